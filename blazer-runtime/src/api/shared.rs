//! Shared variables: each rank contributes its own entries, and after an explicit
//! [`Shared::sync`] every rank can read all of them.
//!
//! Unlike the original, where every assignment was a hidden collective that all ranks had to
//! make in lock-step, writes here are local and cheap; `sync` is the one synchronisation
//! point, started by the driver.

use crate::api::flow::call;
use crate::api::primitives::on_every_rank;
use crate::error::{Error, Result};
use crate::registry::TaskEntry;
use crate::task::Task;
use crate::wire::codec::encode;
use crate::world;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Mutex;

/// Encoded entries: key bytes → value bytes.
type Entries = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Default)]
struct Store {
    /// Entries this rank wrote since its last export (the export of a sync takes them).
    mine: Entries,
    /// Everyone's entries as of the last sync, with this rank's own writes since on top.
    view: Entries,
}

/// Every shared variable of this process, by name: one store for all its threads, so that a
/// write from a thread a task spawned counts like one from the task itself.
static STORES: Mutex<BTreeMap<String, Store>> = Mutex::new(BTreeMap::new());

/// Runs `f` on the stores. A panic inside `f` cannot leave an entry half-written (each
/// change is one map operation), so a poisoned lock is used as it is.
fn with_stores<R>(f: impl FnOnce(&mut BTreeMap<String, Store>) -> R) -> R {
    f(&mut STORES.lock().unwrap_or_else(|p| p.into_inner()))
}

/// A named map from `K` to `V` shared by all ranks.
///
/// ```no_run
/// # use blazer_runtime as blazer;
/// # fn demo<T: blazer::Task<Input = (), Output = ()>>() -> blazer::Result<()> {
/// let vars = blazer::shared::<String, i64>("vars");
/// blazer::on_every_rank(blazer::call::<T>(()))?; // each rank inserts its entries in `T`
/// vars.sync()?;                                  // the synchronisation point
/// let all = vars.entries()?;                     // every rank's entries, on every rank
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Shared<K, V> {
    name: String,
    types: PhantomData<fn(K) -> V>,
}

/// Opens the shared variable `name` on this rank (the same name on every rank is the same
/// variable).
pub fn shared<K, V>(name: &str) -> Shared<K, V> {
    Shared {
        name: name.to_string(),
        types: PhantomData,
    }
}

fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    postcard::from_bytes(b).map_err(|e| Error::Decode {
        rank: world::rank(),
        message: format!("a shared entry: {e}"),
    })
}

impl<K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> Shared<K, V> {
    /// Writes an entry on this rank. Local and immediate: this rank reads it at once; the
    /// other ranks see it after the next [`Shared::sync`].
    pub fn insert(&self, key: K, value: V) -> Result<()> {
        let (k, v) = (encode(&key)?, encode(&value)?);
        with_stores(|s| {
            let store = s.entry(self.name.clone()).or_default();
            store.mine.insert(k.clone(), v.clone());
            store.view.insert(k, v);
        });
        Ok(())
    }

    /// The entry for `key`: this rank's own writes, and everyone's as of the last sync.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let k = encode(key)?;
        let bytes = with_stores(|s| s.get(&self.name).and_then(|st| st.view.get(&k).cloned()));
        bytes.map(|b| decode(&b)).transpose()
    }

    /// Every entry visible on this rank, ordered by encoded key.
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let all: Vec<(Vec<u8>, Vec<u8>)> = with_stores(|s| {
            s.get(&self.name)
                .map(|st| st.view.clone().into_iter().collect())
                .unwrap_or_default()
        });
        all.iter()
            .map(|(k, v)| Ok((decode(k)?, decode(v)?)))
            .collect()
    }

    /// The synchronisation point: gathers every rank's new entries on the driver, merges them
    /// (for a key written on several ranks, the highest rank wins) and gives every rank the
    /// merged map. A write a rank makes while the sync runs (from another thread) stays in its
    /// own view on top of the merged map, and reaches the others at the next sync. Call it on
    /// the driver; no other rank needs to take part by hand.
    pub fn sync(&self) -> Result<()> {
        if !world::is_root() {
            return Err(Error::Usage(
                "Shared::sync is started by the driver (rank 0)".into(),
            ));
        }
        let exports = on_every_rank(call::<SharedExport>(self.name.clone()))?;
        let mut merged = with_stores(|s| {
            s.get(&self.name)
                .map(|st| st.view.clone())
                .unwrap_or_default()
        });
        for entries in exports {
            merged.extend(entries);
        }
        on_every_rank(call::<SharedImport>((
            self.name.clone(),
            merged.into_iter().collect(),
        )))?;
        Ok(())
    }
}

/// Internal task: hands this rank's new entries of a variable to the driver.
struct SharedExport;

impl Task for SharedExport {
    type Input = String;
    type Output = Vec<(Vec<u8>, Vec<u8>)>;
    type Head = ();
    type Last = String;
    const ARITY: usize = 1;
    const NAME: &'static str = "blazer::shared::export";
    const SIGNATURE: &'static str = "fn(String) -> Vec<(Vec<u8>, Vec<u8>)>";
    fn run(name: String) -> std::result::Result<Self::Output, String> {
        Ok(with_stores(|s| {
            std::mem::take(&mut s.entry(name).or_default().mine)
                .into_iter()
                .collect()
        }))
    }
}

/// Internal task: replaces this rank's view of a variable with the merged entries, then
/// puts back the rank's own writes made since its export.
struct SharedImport;

impl Task for SharedImport {
    type Input = (String, Vec<(Vec<u8>, Vec<u8>)>);
    type Output = ();
    type Head = String;
    type Last = Vec<(Vec<u8>, Vec<u8>)>;
    const ARITY: usize = 2;
    const NAME: &'static str = "blazer::shared::import";
    const SIGNATURE: &'static str = "fn(String, Vec<(Vec<u8>, Vec<u8>)>) -> ()";
    fn run((name, entries): Self::Input) -> std::result::Result<(), String> {
        with_stores(|s| {
            let store = s.entry(name).or_default();
            store.view = entries.into_iter().collect();
            // `mine` now holds only writes made after this rank's export (the export took the
            // rest): they are newer than anything merged, so they win here, as they will at
            // the next sync unless a higher rank writes the same key before it.
            store
                .view
                .extend(store.mine.iter().map(|(k, v)| (k.clone(), v.clone())));
        });
        Ok(())
    }
}

inventory::submit! { TaskEntry::of::<SharedExport>(concat!(file!(), ":", line!())) }
inventory::submit! { TaskEntry::of::<SharedImport>(concat!(file!(), ":", line!())) }

#[cfg(test)]
mod tests {
    use super::*;

    /// The export and import a sync runs on a rank, with a write between them: the write
    /// stays in the rank's view on top of the merged entries, and goes out at the next export.
    #[test]
    fn own_writes_between_export_and_import_stay_in_view() {
        let vars = shared::<String, i32>("tests::between-export-and-import");
        vars.insert("early".into(), 1).unwrap();
        vars.insert("both".into(), 1).unwrap();
        let exported = SharedExport::run(vars.name.clone()).unwrap();
        assert_eq!(exported.len(), 2);
        vars.insert("late".into(), 2).unwrap();
        vars.insert("both".into(), 2).unwrap();
        // What the driver merged: this rank's export, another rank's write of `both` (which
        // the later local write of `both` overrides here), and another rank's own key.
        let mut merged: Entries = exported.into_iter().collect();
        merged.insert(encode(&"both").unwrap(), encode(&3).unwrap());
        merged.insert(encode(&"theirs").unwrap(), encode(&4).unwrap());
        SharedImport::run((vars.name.clone(), merged.into_iter().collect())).unwrap();
        assert_eq!(
            vars.entries().unwrap(),
            [
                ("both".to_string(), 2),
                ("late".to_string(), 2),
                ("early".to_string(), 1),
                ("theirs".to_string(), 4),
            ]
        );
        // The late writes are still this rank's to export at the next sync.
        let next: Entries = SharedExport::run(vars.name.clone())
            .unwrap()
            .into_iter()
            .collect();
        let keys: Vec<String> = next.keys().map(|k| decode(k).unwrap()).collect();
        assert_eq!(keys, ["both", "late"]);
    }
}
