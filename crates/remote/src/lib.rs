//! Remote caches for repro: a folder (`file:///path`, or a path) or an S3
//! bucket (`s3://bucket/prefix`, any S3-compatible server), through the
//! `object_store` crate. Implements the engine's `RemoteCache`: plain
//! byte storage; the engine checks every digest.

mod credentials;
mod errors;

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use repro_engine::remote::{Listed, RemoteCache};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How an S3 remote is reached, beyond its URL.
#[derive(Clone, Debug, Default)]
pub struct S3Options {
    /// An S3-compatible server (`http://127.0.0.1:9000`); else
    /// `AWS_ENDPOINT_URL`, else AWS itself.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// A profile of the shared credentials file (else `AWS_PROFILE`).
    pub profile: Option<String>,
}

pub struct ObjectRemote {
    url: String,
    store: Arc<dyn ObjectStore>,
    /// What an error may name to say where the remote is.
    place: String,
    /// Strings no message may contain (credentials).
    secrets: Vec<String>,
    runtime: tokio::runtime::Runtime,
}

/// Opens the remote at `url`; a relative folder is taken from `base`.
pub fn open(url: &str, base: &Path, options: &S3Options) -> anyhow::Result<ObjectRemote> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "remote {url}: no bucket; write s3://bucket/prefix");
        let (store, place, secrets) = s3(bucket, prefix.trim_matches('/'), options)?;
        return Ok(ObjectRemote { url: url.to_string(), store, place, secrets, runtime });
    }
    anyhow::ensure!(
        !url.contains("://") || url.starts_with("file://"),
        "remote {url}: unknown scheme; use s3://bucket/prefix, file:///path or a folder"
    );
    let folder = folder_of(url, base);
    anyhow::ensure!(
        folder.is_dir(),
        "remote {url}: no such folder {}; check the remote's url (a typo?), or run with --no-remote. `repro push` creates a new folder remote",
        folder.display()
    );
    let store = object_store::local::LocalFileSystem::new_with_prefix(&folder)
        .with_context(|| format!("remote {url}: cannot open the folder {}", folder.display()))?;
    Ok(ObjectRemote { url: url.to_string(), store: Arc::new(store), place: folder.display().to_string(), secrets: Vec::new(), runtime })
}

/// The folder a `file://` or plain-path remote names, relative ones from `base`.
fn folder_of(url: &str, base: &Path) -> std::path::PathBuf {
    base.join(url.strip_prefix("file://").unwrap_or(url))
}

/// Creates the folder of a folder remote that does not exist yet (what a
/// first `push` does); `Some(folder)` when it was created. S3 remotes are
/// never created: their bucket must exist.
pub fn create_folder(url: &str, base: &Path) -> anyhow::Result<Option<std::path::PathBuf>> {
    if url.contains("://") && !url.starts_with("file://") {
        return Ok(None);
    }
    let folder = folder_of(url, base);
    if folder.is_dir() {
        return Ok(None);
    }
    std::fs::create_dir_all(&folder).with_context(|| format!("remote {url}: cannot create the folder {}", folder.display()))?;
    Ok(Some(folder))
}

type S3 = (Arc<dyn ObjectStore>, String, Vec<String>);

fn s3(bucket: &str, prefix: &str, options: &S3Options) -> anyhow::Result<S3> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let creds = credentials::find(options.profile.as_deref())?;
    let endpoint = options.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL"));
    let region = options.region.clone().or_else(|| env("AWS_REGION")).or_else(|| env("AWS_DEFAULT_REGION")).unwrap_or("us-east-1".into());
    let retry = object_store::RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(20), ..Default::default() };
    let client = object_store::ClientOptions::new().with_timeout(Duration::from_secs(120)).with_connect_timeout(Duration::from_secs(5));
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(&region)
        .with_access_key_id(&creds.key_id)
        .with_secret_access_key(&creds.secret)
        .with_retry(retry)
        .with_client_options(client);
    if let Some(token) = &creds.token {
        builder = builder.with_token(token);
    }
    let place = match &endpoint {
        Some(e) => {
            builder = builder.with_endpoint(e).with_allow_http(e.starts_with("http://"));
            format!("bucket `{bucket}` at {e}")
        }
        None => format!("bucket `{bucket}` ({region})"),
    };
    let store: Arc<dyn ObjectStore> = Arc::new(builder.build().context("cannot configure the S3 remote")?);
    let store: Arc<dyn ObjectStore> =
        if prefix.is_empty() { store } else { Arc::new(object_store::prefix::PrefixStore::new(store, prefix.to_string())) };
    let secrets = [Some(creds.secret), creds.token].into_iter().flatten().collect();
    Ok((store, format!("{place}, from {}", creds.source), secrets))
}

impl ObjectRemote {
    fn fail(&self, what: &str, e: object_store::Error) -> anyhow::Error {
        errors::explain(&self.url, &self.place, what, &e, &self.secrets)
    }
}

impl RemoteCache for ObjectRemote {
    fn url(&self) -> &str {
        &self.url
    }

    fn check(&self) -> anyhow::Result<()> {
        let listed = self.runtime.block_on(self.store.list_with_delimiter(Some(&Key::from("runs"))));
        listed.map(|_| ()).map_err(|e| self.fail("list runs/", e))
    }

    fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.runtime.block_on(self.store.head(&Key::from(key))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let fetched = self.runtime.block_on(async { self.store.get(&Key::from(key)).await?.bytes().await });
        match fetched {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn download(&self, key: &str, dest: &Path) -> anyhow::Result<bool> {
        let mut file = std::fs::File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
        let copied: object_store::Result<()> = self.runtime.block_on(async {
            let mut stream = self.store.get(&Key::from(key)).await?.into_stream();
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk?).map_err(|e| object_store::Error::Generic { store: "local", source: Box::new(e) })?;
            }
            Ok(())
        });
        match copied {
            Ok(()) => {
                file.sync_all()?;
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn upload(&self, key: &str, src: &Path) -> anyhow::Result<()> {
        let bytes = std::fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
        self.put(key, bytes)
    }

    fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        // One PUT: a reader sees the whole object or none (S3, and the
        // folder store's rename).
        let put = self.runtime.block_on(self.store.put(&Key::from(key), PutPayload::from(bytes)));
        put.map(|_| ()).map_err(|e| self.fail(key, e))
    }

    fn list_meta(&self, prefix: &str) -> anyhow::Result<Vec<Listed>> {
        let listed = self.runtime.block_on(self.store.list(Some(&Key::from(prefix))).map_ok(listed).try_collect());
        listed.map_err(|e| self.fail(&format!("list {prefix}/"), e))
    }

    fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.runtime.block_on(self.store.delete(&Key::from(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail(key, e)),
        }
    }
}

fn listed(meta: object_store::ObjectMeta) -> Listed {
    // Whole seconds: S3 gives no finer, and a remote's ages are hours.
    let seconds = meta.last_modified.timestamp().max(0) as u64;
    Listed { key: meta.location.to_string(), size: meta.size, modified: std::time::UNIX_EPOCH + Duration::from_secs(seconds) }
}
