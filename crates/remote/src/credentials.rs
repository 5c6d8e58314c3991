//! AWS credentials from the standard places: the environment, else a
//! profile of the shared credentials file. They go to the signer only;
//! what a message may show is `source`.

use std::path::PathBuf;

pub struct Credentials {
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
    /// Where they came from, for messages.
    pub source: String,
}

pub fn find(profile: Option<&str>) -> anyhow::Result<Credentials> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials { key_id, secret, token: env("AWS_SESSION_TOKEN"), source: "credentials from the environment".into() });
    }
    let name = profile.map(str::to_string).or_else(|| env("AWS_PROFILE")).unwrap_or_else(|| "default".into());
    let file =
        env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".aws/credentials")));
    if let Some(file) = file.filter(|f| f.exists()) {
        let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
        if let Some(found) = from_profile(&text, &name) {
            return Ok(Credentials { source: format!("profile `{name}` of {}", file.display()), ..found });
        }
    }
    anyhow::bail!(
        "no AWS credentials for the S3 remote: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add a profile `{name}` to ~/.aws/credentials (AWS_PROFILE names another)"
    )
}

/// `[name]`'s keys in an INI credentials file.
fn from_profile(text: &str, name: &str) -> Option<Credentials> {
    let mut in_section = false;
    let (mut key_id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim() == name;
            continue;
        }
        let Some((k, v)) = line.split_once('=').filter(|_| in_section) else { continue };
        let v = Some(v.trim().to_string());
        match k.trim() {
            "aws_access_key_id" => key_id = v,
            "aws_secret_access_key" => secret = v,
            "aws_session_token" => token = v,
            _ => {}
        }
    }
    Some(Credentials { key_id: key_id?, secret: secret?, token, source: String::new() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_profile_is_read_from_its_section_only() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[ci]\naws_access_key_id=C\naws_secret_access_key=D\n";
        let ci = super::from_profile(text, "ci").unwrap();
        assert_eq!((ci.key_id.as_str(), ci.secret.as_str()), ("C", "D"));
        assert_eq!(super::from_profile(text, "default").unwrap().key_id, "A");
        assert!(super::from_profile(text, "other").is_none());
    }
}
