//! Addresses written as `"0x…"` strings: the one way every JSON document of heapmortem
//! writes them. Use [`Hex`] as a field type, or the functions with `#[serde(serialize_with)]`
//! on `u64` fields (addresses stay numbers until they are written). [`parse`] reads one back
//! as people type it.

use serde::{Serialize, Serializer};

/// An address, serialized as a `"0x…"` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

/// `#[serde(serialize_with = "core_reader::hex::serialize")]` for a `u64` address.
pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    Hex(*v).serialize(s)
}

/// The same for an `Option<u64>`: `"0x…"` or `null`.
pub fn serialize_opt<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    v.map(Hex).serialize(s)
}

/// The same for a list of addresses.
pub fn serialize_seq<S: Serializer>(v: &[u64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|&a| Hex(a)))
}

/// An address typed by a person: `0x7f00…` or `7f00…`, hex either way.
pub fn parse(s: &str) -> Result<u64, String> {
    let digits = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    u64::from_str_radix(digits, 16).map_err(|_| format!("{s:?} is not a hex address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Doc {
        #[serde(serialize_with = "serialize")]
        a: u64,
        #[serde(serialize_with = "serialize_opt")]
        b: Option<u64>,
        #[serde(serialize_with = "serialize_opt")]
        c: Option<u64>,
        #[serde(serialize_with = "serialize_seq")]
        d: Vec<u64>,
    }

    #[test]
    fn addresses_are_hex_strings() {
        let doc = Doc {
            a: 0x7f00,
            b: Some(0),
            c: None,
            d: vec![1, 0xff],
        };
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"a":"0x7f00","b":"0x0","c":null,"d":["0x1","0xff"]}"#
        );
    }

    #[test]
    fn typed_addresses_read_with_or_without_0x() {
        assert_eq!(parse("0x7F00"), Ok(0x7f00));
        assert_eq!(parse(" 7f00 "), Ok(0x7f00));
        assert!(parse("0xg").is_err() && parse("").is_err());
    }
}
