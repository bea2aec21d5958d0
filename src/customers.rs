//! The customer tree (customer -> parent), kept by the engine and used to
//! resolve query scopes. It cannot be derived from records, so it lives in
//! its own file (`customers.json`, rewritten atomically on every change),
//! never in sled.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::query::Scope;
use crate::storage::{read_all, write_atomic, Storage};

/// File name of the customer tree in the data directory.
pub const CUSTOMERS_FILE: &str = "customers.json";

/// An immutable view of the customer tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustomerTree {
    parent: HashMap<u64, u64>,
    children: HashMap<u64, Vec<u64>>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    /// (customer, parent) pairs.
    parents: Vec<(u64, u64)>,
}

impl CustomerTree {
    /// Builds a tree from (customer, parent) pairs, rejecting cycles.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u64)>) -> Result<Self> {
        Self::from_pairs_changing(pairs, &[])
    }

    /// [`CustomerTree::from_pairs`], where `changed` are the customers
    /// whose parent the caller just set: a cycle is then named from one
    /// of them, the change that closed it.
    fn from_pairs_changing(
        pairs: impl IntoIterator<Item = (u64, u64)>,
        changed: &[u64],
    ) -> Result<Self> {
        let mut t = CustomerTree::default();
        for (c, p) in pairs {
            t.parent.insert(c, p);
        }
        t.rebuild_children();
        if let Some(cycle) = t.find_cycle(changed) {
            let path: Vec<String> = cycle.iter().map(u64::to_string).collect();
            return Err(Error::invalid(
                "parent",
                format!(
                    "customer {} would be its own ancestor: {} (each customer is followed by its parent)",
                    cycle[0],
                    path.join(" -> ")
                ),
            ));
        }
        Ok(t)
    }

    fn rebuild_children(&mut self) {
        self.children.clear();
        for (&c, &p) in &self.parent {
            self.children.entry(p).or_default().push(c);
        }
        for v in self.children.values_mut() {
            v.sort_unstable();
        }
    }

    /// A cycle of parents, from its first customer back to it (the first
    /// in `prefer` that lies on one, else the smallest such customer).
    fn find_cycle(&self, prefer: &[u64]) -> Option<Vec<u64>> {
        // The customers on a cycle: walking up from any customer either
        // ends at a root or enters a cycle.
        let mut on_cycle: HashSet<u64> = HashSet::new();
        let mut done: HashSet<u64> = HashSet::new();
        let mut starts: Vec<u64> = self.parent.keys().copied().collect();
        starts.sort_unstable();
        for &start in &starts {
            let mut path: Vec<u64> = Vec::new();
            let mut at: HashMap<u64, usize> = HashMap::new();
            let mut c = start;
            while !done.contains(&c) {
                if let Some(&i) = at.get(&c) {
                    on_cycle.extend(&path[i..]);
                    break;
                }
                at.insert(c, path.len());
                path.push(c);
                match self.parent.get(&c) {
                    Some(&p) => c = p,
                    None => break,
                }
            }
            done.extend(path);
        }
        let first = prefer
            .iter()
            .copied()
            .find(|c| on_cycle.contains(c))
            .or_else(|| on_cycle.iter().copied().min())?;
        let mut cycle = vec![first];
        let mut c = first;
        while let Some(&p) = self.parent.get(&c) {
            cycle.push(p);
            if p == first {
                break;
            }
            c = p;
        }
        Some(cycle)
    }

    /// The parent of `c`, if it has one.
    pub fn parent_of(&self, c: u64) -> Option<u64> {
        self.parent.get(&c).copied()
    }

    /// The customers directly under `c`.
    pub fn children_of(&self, c: u64) -> &[u64] {
        self.children.get(&c).map_or(&[], Vec::as_slice)
    }

    /// Every customer under `c` at any depth (not `c` itself).
    pub fn descendants_of(&self, c: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut stack = vec![c];
        let mut seen = HashSet::new();
        while let Some(x) = stack.pop() {
            for &k in self.children_of(x) {
                if seen.insert(k) {
                    out.push(k);
                    stack.push(k);
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// Whether `c` is `root` or under it.
    pub fn is_within(&self, c: u64, root: u64) -> bool {
        let mut x = c;
        let mut steps = 0;
        loop {
            if x == root {
                return true;
            }
            match self.parent.get(&x) {
                Some(&p) if steps < 1_000_000 => {
                    x = p;
                    steps += 1;
                }
                _ => return false,
            }
        }
    }

    /// The customers a scope covers; `None` means every customer.
    pub fn resolve(&self, scope: Scope) -> Option<HashSet<u64>> {
        match scope {
            Scope::System => None,
            Scope::Own(c) => Some(HashSet::from([c])),
            Scope::Children(c) => Some(self.children_of(c).iter().copied().collect()),
            Scope::Descendants(c) => Some(self.descendants_of(c).into_iter().collect()),
        }
    }

    /// Every (customer, parent) pair, sorted.
    pub fn pairs(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.parent.iter().map(|(&c, &p)| (c, p)).collect();
        v.sort_unstable();
        v
    }

    /// Number of customers with a parent.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether no customer has a parent.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }
}

/// The persisted tree with copy-on-write updates.
pub struct Customers {
    path: PathBuf,
    storage: Arc<dyn Storage>,
    tree: std::sync::RwLock<Arc<CustomerTree>>,
    write: std::sync::Mutex<()>,
}

impl Customers {
    /// Loads the tree of a data directory (empty when there is no file).
    pub fn open(storage: Arc<dyn Storage>, dir: &Path) -> Result<Customers> {
        let path = dir.join(CUSTOMERS_FILE);
        let tree = if storage.exists(&path) {
            let bytes = read_all(&*storage, &path).map_err(|e| Error::io("read", &path, e))?;
            let d: OnDisk = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                segment: path.clone(),
                offset: 0,
                id: None,
                reason: format!("customer tree does not parse: {e}"),
            })?;
            CustomerTree::from_pairs(d.parents)?
        } else {
            CustomerTree::default()
        };
        Ok(Customers {
            path,
            storage,
            tree: std::sync::RwLock::new(Arc::new(tree)),
            write: std::sync::Mutex::new(()),
        })
    }

    /// The current tree.
    pub fn tree(&self) -> Arc<CustomerTree> {
        self.tree.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets (or with `None` clears) parents, durably, as one change.
    pub fn set_many(&self, changes: &[(u64, Option<u64>)]) -> Result<()> {
        let _w = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut pairs: HashMap<u64, u64> = self.tree().parent.clone();
        for &(c, p) in changes {
            match p {
                Some(p) if p == c => {
                    return Err(Error::invalid(
                        "parent",
                        format!("customer {c} cannot be its own parent"),
                    ))
                }
                Some(p) => {
                    pairs.insert(c, p);
                }
                None => {
                    pairs.remove(&c);
                }
            }
        }
        let changed: Vec<u64> = changes.iter().map(|&(c, _)| c).collect();
        let tree = CustomerTree::from_pairs_changing(pairs, &changed)?;
        let bytes = serde_json::to_vec(&OnDisk {
            version: 1,
            parents: tree.pairs(),
        })
        .map_err(|e| Error::invalid("customers", e.to_string()))?;
        write_atomic(&*self.storage, &self.path, &bytes)
            .map_err(|e| Error::io("write", &self.path, e))?;
        *self.tree.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tree);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_follow_the_spec() {
        let t = CustomerTree::from_pairs([(2, 1), (3, 1), (4, 2), (5, 4)]).unwrap();
        assert_eq!(t.resolve(Scope::Own(1)), Some(HashSet::from([1])));
        assert_eq!(t.resolve(Scope::Children(1)), Some(HashSet::from([2, 3])));
        assert_eq!(
            t.resolve(Scope::Descendants(1)),
            Some(HashSet::from([2, 3, 4, 5]))
        );
        assert_eq!(t.resolve(Scope::Descendants(9)), Some(HashSet::new()));
        assert_eq!(t.resolve(Scope::System), None);
        assert!(t.is_within(5, 1) && t.is_within(1, 1) && !t.is_within(1, 5));
        assert!(CustomerTree::from_pairs([(1, 2), (2, 1)]).is_err());
        // The cycle is named whole, from the customer the change set.
        let chain = [(6, 2), (5, 6), (4, 5), (3, 4)];
        let e = CustomerTree::from_pairs_changing(chain.into_iter().chain([(2, 3)]), &[3])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("customer 3 would be its own ancestor: 3 -> 4 -> 5 -> 6 -> 2 -> 3"),
            "{e}"
        );
        let e = CustomerTree::from_pairs([(9, 8), (8, 7), (7, 8), (1, 9)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("7 -> 8 -> 7"), "{e}");
    }
}
