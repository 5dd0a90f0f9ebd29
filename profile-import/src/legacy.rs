//! Pieces the text formats share: the `count: bytes [count: bytes]` pairs and stacks of hex
//! addresses.

/// Parses `N: S [N: S]` at the start of `s` (leading blanks allowed), returning the four
/// numbers in sample order and the rest of the string after `]`. The in-use pair may be
/// negative: pprof's `heapSampleRE` accepts that (profiles that were already differenced),
/// jeprof's regex does not and skips such a line.
pub(crate) fn parse_counts(s: &str) -> Option<([f64; 4], &str)> {
    let (n1, rest) = number(s.trim_start(), true)?;
    let rest = rest.trim_start().strip_prefix(':')?;
    let (s1, rest) = number(rest.trim_start(), true)?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (n2, rest) = number(rest.trim_start(), false)?;
    let rest = rest.trim_start().strip_prefix(':')?;
    let (s2, rest) = number(rest.trim_start(), false)?;
    let rest = rest.trim_start().strip_prefix(']')?;
    Some(([n1, s1, n2, s2], rest))
}

fn number(s: &str, signed: bool) -> Option<(f64, &str)> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) if signed => (true, d),
        _ => (false, s),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    // `str::parse::<u64>` of the digits, without its checks for signs: `None` past u64::MAX.
    let v = digits.as_bytes()[..end].iter().try_fold(0u64, |v, &d| {
        v.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    let v = v as f64;
    Some((if negative { -v } else { v }, &digits[end..]))
}

/// Parses a stack: hex addresses separated by blanks, each with or without `0x` (jemalloc and
/// gperftools write `0x`; jeprof's `HexExtend` accepts both).
pub(crate) fn parse_stack(s: &str) -> Result<Vec<u64>, String> {
    let mut stack = Vec::new();
    parse_stack_into(s, &mut stack)?;
    Ok(stack)
}

/// [`parse_stack`] into `stack` (cleared first), for a reader that reads many stacks one
/// after the other.
pub(crate) fn parse_stack_into(s: &str, stack: &mut Vec<u64>) -> Result<(), String> {
    stack.clear();
    if plain_stack(s.as_bytes(), stack) {
        return Ok(());
    }
    stack.clear();
    for word in s.split_ascii_whitespace() {
        stack.push(parse_address(word)?);
    }
    Ok(())
}

/// Reads the form jemalloc and gperftools write, ` 0x…` a word (1 to 16 hex digits after
/// one blank), in one pass over the bytes; false, with `stack` holding anything, for any
/// other. Those words are read as [`parse_address`] reads them.
fn plain_stack(s: &[u8], stack: &mut Vec<u64>) -> bool {
    let mut i = 0;
    while i < s.len() {
        // A pattern, not a slice comparison: no call to `memcmp` a word.
        if !matches!(s.get(i..i + 3), Some([b' ', b'0', b'x'])) {
            return false;
        }
        i += 3;
        let (v, digits) = hex_prefix(&s[i..]);
        if !(1..=16).contains(&digits) {
            return false;
        }
        i += digits;
        stack.push(v);
    }
    true
}

/// The hex digits `bytes` starts with, read through a table of digit values (a 250k-stack
/// dump has millions of words): their value (its low 64 bits) and how many there are.
fn hex_prefix(bytes: &[u8]) -> (u64, usize) {
    let mut v: u64 = 0;
    let mut n = 0;
    while let Some(&b) = bytes.get(n) {
        let d = HEX_DIGITS[usize::from(b)];
        if d & 0x80 != 0 {
            break;
        }
        v = v << 4 | u64::from(d);
        n += 1;
    }
    (v, n)
}

/// One word of a stack: 1 to 16 hex digits, with or without `0x`, read as [`hex_prefix`]
/// reads them; any other word goes through `u64::from_str_radix`, whose verdict stands.
fn parse_address(word: &str) -> Result<u64, String> {
    let digits = word
        .strip_prefix("0x")
        .or_else(|| word.strip_prefix("0X"))
        .unwrap_or(word);
    let (v, n) = hex_prefix(digits.as_bytes());
    if n == digits.len() && (1..=16).contains(&n) {
        return Ok(v);
    }
    u64::from_str_radix(digits, 16).map_err(|_| format!("`{word}` is not a hex address"))
}

/// Each byte's value as a hex digit, or 0x80 for a byte that is none.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => 0x80,
        };
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let (v, rest) = parse_counts("  t*: 1: 2 [3: 4]".split_once("t*:").unwrap().1).unwrap();
        assert_eq!((v, rest), ([1.0, 2.0, 3.0, 4.0], ""));
        let (v, rest) = parse_counts("-1: -288 [  2:  296] @ 0x1").unwrap();
        assert_eq!((v, rest), ([-1.0, -288.0, 2.0, 296.0], " @ 0x1"));
        assert!(parse_counts("1: 2 [3: -4]").is_none());
        assert!(parse_counts("1: 2 [3: 4").is_none());
        assert!(parse_counts("99999999999999999999999: 1 [0: 0]").is_none());
    }

    #[test]
    fn stacks() {
        assert_eq!(parse_stack(" 0x10 ff 0X0 ").unwrap(), vec![0x10, 0xff, 0]);
        // The form dumps are written in, read in one pass.
        assert_eq!(
            parse_stack(" 0x7fe995ea2630 0x0 0xffffffffffffffff").unwrap(),
            vec![0x7fe995ea2630, 0, u64::MAX]
        );
        assert_eq!(parse_stack("").unwrap(), Vec::<u64>::new());
        assert!(parse_stack(" 0x1 0x").is_err());
        assert!(parse_stack(" 0x1 0x2g").is_err());
        assert!(parse_stack("0x10 zz").is_err());
        assert!(parse_stack("0x1ffffffffffffffff").is_err());
        assert_eq!(
            parse_stack("0xFFFFFFFFFFFFFFFF 0x00000000000000001 +a").unwrap(),
            vec![u64::MAX, 1, 10]
        );
        assert!(parse_stack("0x 1").is_err());
    }
}
