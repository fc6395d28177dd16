//! `refvid keys …`: creating API keys in a data directory's store.

use refvid_server::keys::{self, KeyHasher};
use refvid_store::{NewKey, TaskStore};
use std::path::Path;

/// The key hasher for a deployment: its pepper is `REFVID_KEY_PEPPER` (set the same on every
/// node of a multi-node setup), or else the data directory's `key-pepper` file, created on first
/// use and readable by the owner only.
pub fn key_hasher(data_dir: &Path) -> anyhow::Result<KeyHasher> {
    if let Ok(pepper) = std::env::var("REFVID_KEY_PEPPER")
        && !pepper.is_empty()
    {
        return Ok(KeyHasher::new(pepper.into_bytes()));
    }
    std::fs::create_dir_all(data_dir)?;
    Ok(KeyHasher::new(crate::secret_file(
        &data_dir.join("key-pepper"),
    )?))
}

/// Creates a key named `name` and returns it in clear (the only time it is ever shown).
pub async fn create_key(
    store: &dyn TaskStore,
    data_dir: &Path,
    name: &str,
) -> anyhow::Result<String> {
    let key = keys::generate();
    let record = NewKey {
        id: keys::new_key_id(),
        name: name.to_string(),
        key_hash: key_hasher(data_dir)?.digest(&key),
        created_ms: refvid_server::now_ms(),
    };
    store.insert_key(&record).await?;
    Ok(key)
}

/// On a first start with no key, creates one named `initial` and returns it.
pub async fn ensure_initial_key(
    store: &dyn TaskStore,
    data_dir: &Path,
) -> anyhow::Result<Option<String>> {
    if store.count_keys().await? > 0 {
        return Ok(None);
    }
    Ok(Some(create_key(store, data_dir, "initial").await?))
}
