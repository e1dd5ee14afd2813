//! The appeal as the store keeps it: the same encoding and the same bounds as the SQLite
//! and DynamoDB adapters, without a store.

use shared::domain::appeal::Appeal;
use shared::store::StoredAppeal;
use shared::store::kv::{MAX_ITEM_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES};
use shared::store::record;

/// The appeal as the store keeps it (the same encoding, the same bounds): an item too large
/// or with a key too long is refused (a 413 for a provider's webhook), and one that does not
/// read back is a 500 on every later request for it.
pub fn stored(appeal: &Appeal) -> Result<(), String> {
    let item = record::encode(&StoredAppeal::new(appeal.clone()))
        .map_err(|e| format!("an appeal as a store item: {e}"))?;
    let size = item.encoded_size();
    if size > MAX_ITEM_BYTES {
        return Err(format!(
            "an appeal of {size} bytes does not fit one store item"
        ));
    }
    for key in [Some(&item.key), item.gsi1.as_ref(), item.gsi2.as_ref()]
        .into_iter()
        .flatten()
    {
        if key.pk.len() > MAX_PARTITION_KEY_BYTES || key.sk.len() > MAX_SORT_KEY_BYTES {
            return Err(format!(
                "an appeal's key is {} + {} bytes, past the store's bounds",
                key.pk.len(),
                key.sk.len()
            ));
        }
    }
    let back: StoredAppeal =
        record::decode(item).map_err(|e| format!("an appeal does not read back: {e}"))?;
    match back.appeal == *appeal {
        true => Ok(()),
        false => Err("an appeal reads back different from what was stored".into()),
    }
}
