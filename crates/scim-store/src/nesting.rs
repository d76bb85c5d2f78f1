//! The one bound on group nesting that every store enforces when a group gets a group member.
//!
//! Before a group joins another, the store walks up from the receiving group through the groups
//! that contain it, level by level, to see whether the newcomer is already above it (a cycle).
//! The walk is bounded, so that on DynamoDB it costs at most [`MAX_GROUP_NESTING_DEPTH`] + 1
//! BatchGetItem calls; ancestry deeper or wider than the bound is refused (400) rather than risk
//! a cycle the walk did not see. The embedded store drives the same walk over its maps, so both
//! refuse exactly the same member changes.
//!
//! (The effective-access walk has its own, smaller bound: [`crate::EFFECTIVE_GROUP_DEPTH`].)

use crate::StoreError;
use std::collections::BTreeSet;

/// Levels of groups above a group that a member add follows: a group with an ancestor this many
/// levels up (or more) takes no group members.
pub const MAX_GROUP_NESTING_DEPTH: usize = 32;
/// Most groups above one group that a member add visits.
pub const MAX_GROUP_ANCESTORS: usize = 1_000;

/// The walk up from one group: the caller reads the parents of each [`AncestorWalk::frontier`]
/// (one batch per level) and hands them to [`AncestorWalk::found`] until the frontier is `None`,
/// then takes the result from [`AncestorWalk::finish`].
#[derive(Debug, Clone)]
pub struct AncestorWalk {
    group_id: String,
    seen: BTreeSet<String>,
    frontier: Vec<String>,
    levels: usize,
    too_wide: bool,
}

impl AncestorWalk {
    pub fn new(group_id: &str) -> Self {
        AncestorWalk {
            group_id: group_id.to_string(),
            seen: BTreeSet::new(),
            frontier: vec![group_id.to_string()],
            levels: 0,
            too_wide: false,
        }
    }

    /// The groups whose parents the next level needs, or `None` when the walk is over.
    pub fn frontier(&self) -> Option<&[String]> {
        let open = !self.frontier.is_empty() && !self.too_wide && self.levels <= MAX_GROUP_NESTING_DEPTH;
        open.then_some(self.frontier.as_slice())
    }

    /// The parents of the current frontier (in any order, repeats allowed).
    pub fn found(&mut self, parents: impl IntoIterator<Item = String>) {
        let mut next = Vec::new();
        for p in parents {
            if self.seen.insert(p.clone()) {
                next.push(p);
            }
        }
        self.levels += 1;
        if self.seen.len() > MAX_GROUP_ANCESTORS {
            self.too_wide = true;
        } else {
            self.frontier = next;
        }
    }

    /// Every group above the walked one, or the refusal when the bound stopped the walk first.
    pub fn finish(self) -> Result<BTreeSet<String>, StoreError> {
        if self.frontier.is_empty() {
            return Ok(self.seen);
        }
        Err(StoreError::InvalidMember(format!(
            "group '{}' is nested more than {MAX_GROUP_NESTING_DEPTH} levels deep or inside more than \
             {MAX_GROUP_ANCESTORS} groups; group members cannot be added to it",
            self.group_id
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Walks a chain where group `g<i>` is inside `g<i+1>`, up to `g<top>`.
    fn walk_chain(start: usize, top: usize) -> Result<BTreeSet<String>, StoreError> {
        let mut walk = AncestorWalk::new(&format!("g{start}"));
        while let Some(frontier) = walk.frontier() {
            let parents: Vec<String> = frontier
                .iter()
                .filter_map(|g| g[1..].parse::<usize>().ok())
                .filter(|i| *i < top)
                .map(|i| format!("g{}", i + 1))
                .collect();
            walk.found(parents);
        }
        walk.finish()
    }

    #[test]
    fn ancestors_up_to_the_bound_are_found() {
        assert!(walk_chain(0, 0).unwrap().is_empty());
        let above = walk_chain(0, MAX_GROUP_NESTING_DEPTH).unwrap();
        assert_eq!(above.len(), MAX_GROUP_NESTING_DEPTH);
    }

    #[test]
    fn an_ancestor_beyond_the_bound_is_refused() {
        let refused = walk_chain(0, MAX_GROUP_NESTING_DEPTH + 1).unwrap_err();
        assert!(matches!(refused, StoreError::InvalidMember(d) if d.contains("nested more than 32")));
    }

    #[test]
    fn too_many_ancestors_are_refused() {
        let mut walk = AncestorWalk::new("g");
        walk.found((0..=MAX_GROUP_ANCESTORS).map(|i| format!("p{i}")));
        assert!(walk.frontier().is_none());
        assert!(walk.finish().is_err());
    }

    #[test]
    fn repeated_parents_count_once_so_cycles_end_the_walk() {
        let mut walk = AncestorWalk::new("a");
        walk.found(["b".to_string()]);
        walk.found(["a".to_string(), "b".to_string()]);
        walk.found(["b".to_string()]);
        assert!(walk.frontier().is_none());
        assert_eq!(walk.finish().unwrap().len(), 2);
    }
}
