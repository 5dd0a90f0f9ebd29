//! Signal names.

use crate::Os;

/// A signal's name (`SIGSEGV`) for the OS that numbered it; the numbers below 16 are the
/// same on Linux and FreeBSD except 7 and 10.
pub fn signal_name(os: Os, signo: i32) -> Option<String> {
    let common = match signo {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "",
    };
    if !common.is_empty() {
        return Some(common.into());
    }
    // linux arch/x86/include/uapi/asm/signal.h; FreeBSD sys/sys/signal.h.
    let name = match (os, signo) {
        (Os::Linux, 7) | (Os::FreeBsd, 10) => "SIGBUS",
        (Os::Linux, 10) | (Os::FreeBsd, 30) => "SIGUSR1",
        (Os::Linux, 12) | (Os::FreeBsd, 31) => "SIGUSR2",
        (Os::Linux, 19) | (Os::FreeBsd, 17) => "SIGSTOP",
        (Os::FreeBsd, 12) => "SIGSYS",
        (Os::Linux, 31) => "SIGSYS",
        _ => return None,
    };
    Some(name.into())
}
