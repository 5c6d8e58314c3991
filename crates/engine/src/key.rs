//! The key that names a stage's run: its fingerprint, as a type, so that
//! it is never confused with another string (a digest, a stage name).

/// A stage's key: the hex sha256 of its `FingerprintInput`. Records,
/// run entries, checkpoints and pins are named by it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The hex sha256 `digest` of a fingerprint input (`fingerprint::fingerprint`).
    pub(crate) fn of_digest(digest: String) -> Fingerprint {
        Fingerprint(digest)
    }

    /// `text` if it is a key (64 lowercase hex digits), e.g. read back
    /// from a file name.
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let hex = text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        hex.then(|| Fingerprint(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 digits, as messages and reports show it.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Fingerprint;

    #[test]
    fn only_sixty_four_lowercase_hex_digits_are_a_fingerprint() {
        let hex = "0123456789abcdef".repeat(4);
        assert_eq!(Fingerprint::parse(&hex).map(|f| f.to_string()), Some(hex.clone()));
        assert!(Fingerprint::parse(&hex[..63]).is_none());
        assert!(Fingerprint::parse(&hex.to_uppercase()).is_none());
        assert!(Fingerprint::parse(&format!("{}.json", &hex[..59])).is_none());
    }

    /// Records and run entries keep their JSON: a fingerprint is its string.
    #[test]
    fn a_fingerprint_is_written_as_its_hex_string() {
        let hex = "ab".repeat(32);
        let fingerprint = Fingerprint::parse(&hex).unwrap();
        assert_eq!(serde_json::to_string(&fingerprint).unwrap(), format!("\"{hex}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&format!("\"{hex}\"")).unwrap(), fingerprint);
        assert_eq!(fingerprint.short(), &hex[..12]);
    }
}
