//! The token registry's generation marker on moto: absent until the first bump, then a counter
//! every bump moves on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use scim_auth::GenerationMarker;
use scim_dynamodb::{CallCounter, TokenGeneration};

#[tokio::test]
async fn the_marker_is_absent_until_bumped_and_each_bump_moves_it_with_one_call() {
    let (store, _) = common::store().await;
    let counter = CallCounter::default();
    let marker = TokenGeneration::new(common::client(&counter), store.table());
    assert_eq!(marker.read().await.unwrap(), None);
    marker.bump().await.unwrap();
    let first = marker.read().await.unwrap().expect("a generation");
    marker.bump().await.unwrap();
    let second = marker.read().await.unwrap().expect("a generation");
    assert_ne!(first, second);
    assert_eq!(
        marker.read().await.unwrap().as_deref(),
        Some(second.as_str()),
        "reads change nothing"
    );
    let calls = counter.take();
    assert_eq!(calls.get("GetItem").copied(), Some(4), "{calls:?}");
    assert_eq!(calls.get("UpdateItem").copied(), Some(2), "{calls:?}");
}
