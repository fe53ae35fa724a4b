//! Small text helpers every layer may use.

/// A count with its thousands separated: `86,247`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_separated() {
        assert_eq!(
            [0, 999, 1000, 86_247, 1_234_567].map(super::thousands),
            ["0", "999", "1,000", "86,247", "1,234,567"]
        );
    }
}
