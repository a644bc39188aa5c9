//! The S3 backend (rust-s3, path-style, SigV4): works with AWS, MinIO, Garage
//! and s3s. Large files go up as multipart uploads, so an object appears only
//! when complete; reads stream through a presigned URL so ranges never buffer
//! the object in memory.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::TryStreamExt;
use s3::creds::Credentials;
use s3::error::S3Error;
use s3::{Bucket, Region};

use super::{ByteRange, ByteStream, Storage, StorageError, StorageKey};

/// A parsed `S3_URL`: `http(s)://KEY:SECRET@HOST[:PORT]/BUCKET`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

impl S3Location {
    pub fn parse(s: &str) -> Result<Self, StorageError> {
        let bad = |m: &str| {
            StorageError::Config(format!(
                "S3 URL: {m} (expected http(s)://KEY:SECRET@HOST[:PORT]/BUCKET)"
            ))
        };
        let url = url::Url::parse(s).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("scheme must be http or https"));
        }
        let decode = |v: &str| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| bad("credentials are not UTF-8"))
        };
        let access_key = decode(url.username())?;
        let secret_key = decode(url.password().unwrap_or(""))?;
        if access_key.is_empty() || secret_key.is_empty() {
            return Err(bad("missing KEY:SECRET"));
        }
        let host = url.host_str().ok_or_else(|| bad("missing host"))?;
        let bucket = url.path().trim_matches('/');
        if bucket.is_empty() || bucket.contains('/') {
            return Err(bad("the path must be exactly the bucket name"));
        }
        let endpoint = match url.port() {
            Some(p) => format!("{}://{host}:{p}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(S3Location {
            endpoint,
            bucket: bucket.to_owned(),
            access_key,
            secret_key,
        })
    }
}

/// Objects in one bucket, under an optional key prefix.
pub struct S3Storage {
    bucket: Box<Bucket>,
    prefix: String,
    http: reqwest::Client,
}

/// Presigned read URLs live just long enough to start the transfer.
const PRESIGN_SECS: u32 = 300;

impl S3Storage {
    pub fn new(location: &S3Location, region: &str, prefix: &str) -> Result<Self, StorageError> {
        let creds = Credentials::new(
            Some(&location.access_key),
            Some(&location.secret_key),
            None,
            None,
            None,
        )
        .map_err(|e| StorageError::Config(e.to_string()))?;
        let region = Region::Custom {
            region: region.to_owned(),
            endpoint: location.endpoint.clone(),
        };
        let bucket = Bucket::new(&location.bucket, region, creds)
            .map_err(|e| StorageError::Config(e.to_string()))?
            .with_path_style();
        Ok(S3Storage {
            bucket,
            prefix: prefix.to_owned(),
            http: reqwest::Client::new(),
        })
    }

    fn object(&self, key: &StorageKey) -> String {
        format!("{}{}", self.prefix, key.path())
    }
}

fn remote(key: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Remote {
        key: key.to_owned(),
        message: e.to_string(),
    }
}

fn is_not_found(e: &S3Error) -> bool {
    matches!(e, S3Error::HttpFailWithBody(404, _))
}

#[async_trait]
impl Storage for S3Storage {
    async fn put_file(
        &self,
        key: &StorageKey,
        src: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let object = self.object(key);
        let mut file = tokio::fs::File::open(src)
            .await
            .map_err(|source| StorageError::Io {
                key: object.clone(),
                source,
            })?;
        self.bucket
            .put_object_stream_builder(&object)
            .with_content_type(content_type)
            .with_max_concurrent_chunks(2)
            .execute_stream(&mut file)
            .await
            .map_err(|e| remote(&object, e))?;
        Ok(())
    }

    async fn put_bytes(
        &self,
        key: &StorageKey,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let object = self.object(key);
        self.bucket
            .put_object_with_content_type(&object, &bytes, content_type)
            .await
            .map_err(|e| remote(&object, e))?;
        Ok(())
    }

    async fn get(
        &self,
        key: &StorageKey,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StorageError> {
        let object = self.object(key);
        let url = self
            .bucket
            .presign_get(&object, PRESIGN_SECS, None)
            .await
            .map_err(|e| remote(&object, e))?;
        let mut req = self.http.get(url);
        if let Some(r) = range {
            if r.len == 0 {
                return Ok(Box::pin(futures_util::stream::empty()));
            }
            req = req.header(
                "Range",
                format!("bytes={}-{}", r.start, r.start + r.len - 1),
            );
        }
        let resp = req.send().await.map_err(|e| remote(&object, e))?;
        match resp.status().as_u16() {
            200 | 206 => Ok(Box::pin(resp.bytes_stream().map_err(std::io::Error::other))),
            404 => Err(StorageError::NotFound(object)),
            status => Err(remote(&object, format!("GET answered {status}"))),
        }
    }

    async fn head(&self, key: &StorageKey) -> Result<Option<u64>, StorageError> {
        let object = self.object(key);
        match self.bucket.head_object(&object).await {
            Ok((head, _)) => Ok(Some(head.content_length.unwrap_or(0).max(0) as u64)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(remote(&object, e)),
        }
    }

    async fn delete(&self, key: &StorageKey) -> Result<(), StorageError> {
        let object = self.object(key);
        match self.bucket.delete_object(&object).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(remote(&object, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let full = format!("{}{prefix}", self.prefix);
        let pages = self
            .bucket
            .list(full.clone(), None)
            .await
            .map_err(|e| remote(&full, e))?;
        let mut keys: Vec<String> = pages
            .into_iter()
            .flat_map(|p| p.contents)
            .filter_map(|o| o.key.strip_prefix(&self.prefix).map(str::to_owned))
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.bucket
            .list_page(self.prefix.clone(), None, None, None, Some(1))
            .await
            .map(|_| ())
            .map_err(|e| remote(&self.bucket.name, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_url() {
        let l = S3Location::parse("http://AK:s%2Fecret@127.0.0.1:9000/bucket").unwrap();
        assert_eq!(l.endpoint, "http://127.0.0.1:9000");
        assert_eq!(l.bucket, "bucket");
        assert_eq!(l.access_key, "AK");
        assert_eq!(l.secret_key, "s/ecret");
        assert!(!format!("{l:?}").contains("ecret"));
        for bad in [
            "ftp://a:b@h/b",
            "http://h/b",
            "http://a:b@h/",
            "http://a:b@h/b/c",
            "nonsense",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }
}
