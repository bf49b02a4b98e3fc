//! A child process's memory and CPU time from `/proc`: resident memory (`VmRSS`), its peak
//! (`VmHWM`, what Lambda's "Max Memory Used" reports for a single process), and CPU seconds.

use std::io;

fn malformed(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A field of `/proc/{pid}/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_field_kib(&status, field)
        .ok_or_else(|| malformed(format!("no {field} in /proc/{pid}/status")))
}

fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time (user + system) `pid` has used so far, from `/proc/{pid}/stat` in clock ticks
/// (100 per second on Linux).
pub fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat_cpu_seconds(&stat).ok_or_else(|| malformed(format!("malformed /proc/{pid}/stat")))
}

fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the parenthesised command name, which may itself hold spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tbootstrap\nVmHWM:\t   29568 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(status_field_kib(status, "VmHWM"), Some(29_568));
        assert_eq!(status_field_kib(status, "VmRSS"), Some(12_345));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
    }

    #[test]
    fn cpu_time_is_user_plus_system_after_the_command_name() {
        let stat = "42 (boot strap) S 1 42 42 0 -1 4194560 100 0 0 0 37 11 0 0 20 0 4 0";
        assert_eq!(stat_cpu_seconds(stat), Some(0.48));
        assert_eq!(stat_cpu_seconds("42 (x) S"), None);
    }
}
