//! The storage backends behave alike: one conformance story for both.

use artifactd::storage::{ByteRange, StorageError, StorageKey, read_all};
use artifactd_tests::{Backend, TestEnv, both_backends, sha256_hex};
use bytes::Bytes;

both_backends!(storage_conformance);

async fn storage_conformance(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let storage = env.storage().await;

    // A one-byte object, moved in from a local file.
    let one = env.dir.path().join("one");
    std::fs::write(&one, b"x").unwrap();
    let key1 = StorageKey::blob(&sha256_hex(b"x"));
    storage
        .put_file(&key1, &one, "application/octet-stream")
        .await
        .unwrap();
    assert_eq!(
        read_all(storage.as_ref(), &key1).await.unwrap().as_ref(),
        b"x"
    );
    assert_eq!(storage.head(&key1).await.unwrap(), Some(1));

    // An in-memory object, read whole and by range.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let key2 = StorageKey::Index {
        repo_id: 7,
        sha256: sha256_hex(&data),
    };
    storage
        .put_bytes(&key2, Bytes::from(data.clone()), "text/plain")
        .await
        .unwrap();
    assert_eq!(
        read_all(storage.as_ref(), &key2).await.unwrap().as_ref(),
        data.as_slice()
    );
    use futures_util::TryStreamExt;
    let part: Vec<Bytes> = storage
        .get(
            &key2,
            Some(ByteRange {
                start: 1000,
                len: 5000,
            }),
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(part.concat(), &data[1000..6000]);

    // Listing by prefix, missing objects, deletion.
    assert_eq!(storage.list("index/7/").await.unwrap(), vec![key2.path()]);
    assert_eq!(storage.list("blobs/").await.unwrap(), vec![key1.path()]);
    assert!(storage.list("index/8/").await.unwrap().is_empty());
    let missing = StorageKey::blob(&sha256_hex(b"missing"));
    assert_eq!(storage.head(&missing).await.unwrap(), None);
    assert!(matches!(
        storage.get(&missing, None).await,
        Err(StorageError::NotFound(_))
    ));
    storage.delete(&key2).await.unwrap();
    storage.delete(&missing).await.unwrap();
    assert_eq!(storage.head(&key2).await.unwrap(), None);
    assert!(storage.list("index/").await.unwrap().is_empty());
    storage.check().await.unwrap();
}
