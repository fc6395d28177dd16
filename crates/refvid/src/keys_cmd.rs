//! `refvid keys …`: creating API keys in a data directory's store.

use refvid_server::keys;
use refvid_store::{NewKey, TaskStore};

/// Creates a key named `name` and returns it in clear (the only time it is ever shown).
pub async fn create_key(store: &dyn TaskStore, name: &str) -> anyhow::Result<String> {
    let key = keys::generate();
    let record = NewKey {
        id: keys::new_key_id(),
        name: name.to_string(),
        key_hash: keys::digest(&key),
        created_ms: refvid_server::now_ms(),
    };
    store.insert_key(&record).await?;
    Ok(key)
}

/// On a first start with no key, creates one named `initial` and returns it.
pub async fn ensure_initial_key(store: &dyn TaskStore) -> anyhow::Result<Option<String>> {
    if store.count_keys().await? > 0 {
        return Ok(None);
    }
    Ok(Some(create_key(store, "initial").await?))
}
