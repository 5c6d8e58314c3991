//! object_store errors as messages a user can act on, without secrets.

/// The error of `what` (a key or an operation) on the remote at `url`.
pub fn explain(url: &str, place: &str, what: &str, e: &object_store::Error, secrets: &[String]) -> anyhow::Error {
    let mut text = format!("{e}");
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = redact(&text, secret);
    }
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if any(&["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden", "status: 403"]) {
        return anyhow::anyhow!("remote {url}: {place} refused the credentials ({what}); check the access key id and secret");
    }
    if any(&["NoSuchBucket", "bucket does not exist"]) {
        return anyhow::anyhow!("remote {url}: {place}: no such bucket; create it, or fix the remote's url");
    }
    if any(&["error sending request", "Connection refused", "connection closed", "timed out", "tcp connect"]) {
        return anyhow::anyhow!("remote {url}: cannot reach {place} ({what}); run again when it is back: {text}");
    }
    anyhow::anyhow!("remote {url}: {what}: {text}")
}

/// `text` with each whole occurrence of `secret` replaced: one that does
/// not run on into letters or digits on either side. A short secret that
/// happens to be part of a word (`y` in `list-type`) is not a leak and the
/// word stays readable; where the secret stands alone it is hidden.
fn redact(text: &str, secret: &str) -> String {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let (first, last) = (secret.chars().next(), secret.chars().last());
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        let (before, after) = (&rest[..at], &rest[at + secret.len()..]);
        let joined_before = word(first) && word(before.chars().last().or(out.chars().last()));
        let joined_after = word(last) && word(after.chars().next());
        out.push_str(before);
        out.push_str(if joined_before || joined_after { secret } else { "<redacted>" });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_secret_is_hidden_where_it_stands_alone_and_words_stay_whole() {
        assert_eq!(redact("GET /?list-type=2 failed", "y"), "GET /?list-type=2 failed");
        assert_eq!(redact("secret y leaked: y", "y"), "secret <redacted> leaked: <redacted>");
        let long = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(redact(&format!("signing with {long}."), long), "signing with <redacted>.");
        assert_eq!(redact(&format!("key={long}&x=1"), long), "key=<redacted>&x=1");
    }
}
