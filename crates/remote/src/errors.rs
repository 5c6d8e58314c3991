//! object_store errors as messages a user can act on, without secrets.

/// The error of `what` (a key or an operation) on the remote at `url`.
pub fn explain(url: &str, place: &str, what: &str, e: &object_store::Error, secrets: &[String]) -> anyhow::Error {
    let mut text = format!("{e}");
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret.as_str(), "<redacted>");
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
