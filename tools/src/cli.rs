//! Command-line options as the benches and tools take them (`--name value`, lists as
//! `1000,10000`), and the tokio runtime they measure on.

use crate::Fail;

/// `--name value` from the command line.
pub fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// `--name N` as a number, or `default` when absent.
pub fn number(args: &[String], name: &str, default: usize) -> Result<usize, Fail> {
    match arg(args, name) {
        None => Ok(default),
        Some(value) => value
            .parse()
            .map_err(|_| format!("{name}: {value:?} is not a number").into()),
    }
}

/// A comma-separated list of numbers from `--name`, or `default`.
pub fn numbers(args: &[String], name: &str, default: &str) -> Result<Vec<usize>, Fail> {
    Ok(arg(args, name)
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(|n| n.trim().parse())
        .collect::<Result<_, _>>()?)
}

/// `--store embedded|dynamodb` (default embedded): the store's name and, for DynamoDB, its
/// endpoint from `DYNAMODB_ENDPOINT`.
pub fn store(args: &[String]) -> Result<(String, Option<String>), Fail> {
    let store = arg(args, "--store").unwrap_or_else(|| "embedded".into());
    let endpoint = match store.as_str() {
        "embedded" => None,
        "dynamodb" => Some(std::env::var("DYNAMODB_ENDPOINT").map_err(|_| {
            "--store dynamodb needs DYNAMODB_ENDPOINT (DynamoDB Local's URL)".to_string()
        })?),
        other => return Err(format!("--store must be embedded or dynamodb, not {other}").into()),
    };
    Ok((store, endpoint))
}

/// Whether `--name` is on the command line.
pub fn flag(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn options_are_read_by_name_with_defaults() {
        let line = args("bench --subscribers 1000,20000 --rounds 3 --skip-baseline");
        assert_eq!(
            numbers(&line, "--subscribers", "5").ok(),
            Some(vec![1000, 20000])
        );
        assert_eq!(numbers(&line, "--idle", "5,6").ok(), Some(vec![5, 6]));
        assert_eq!(number(&line, "--rounds", 1).ok(), Some(3));
        assert_eq!(number(&line, "--latency-ms", 20).ok(), Some(20));
        assert!(flag(&line, "--skip-baseline"));
        assert!(number(&args("--rounds many"), "--rounds", 1).is_err());
        assert_eq!(store(&line).ok(), Some(("embedded".to_string(), None)));
        assert!(store(&args("--store sqlite")).is_err());
    }
}
