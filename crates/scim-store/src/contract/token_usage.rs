//! Contract cases: token uses: the latest use of each token, per tenant.

use super::*;
use crate::TokenUse;

fn used(token: &str, minutes: i64, client: &str) -> TokenUse {
    TokenUse {
        token_id: token.into(),
        last_used: crate::timestamp(
            crate::now().replace_time(time::Time::MIDNIGHT) + time::Duration::minutes(minutes),
        ),
        client: Some(client.into()),
    }
}

/// The newest use of a token wins, whatever order instances write in; tenants are apart.
pub async fn token_uses_keep_the_newest_per_token<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    assert!(s.token_uses(&a).await.unwrap().is_empty());
    s.record_token_use(&a, &used("tok-2", 5, "198.51.100.1"))
        .await
        .unwrap();
    s.record_token_use(&a, &used("tok-1", 10, "198.51.100.2"))
        .await
        .unwrap();
    s.record_token_use(&a, &used("tok-1", 3, "198.51.100.3"))
        .await
        .unwrap();
    s.record_token_use(&b, &used("tok-9", 1, "198.51.100.4"))
        .await
        .unwrap();
    assert_eq!(
        s.token_uses(&a).await.unwrap(),
        vec![
            used("tok-1", 10, "198.51.100.2"),
            used("tok-2", 5, "198.51.100.1")
        ]
    );
    s.record_token_use(&a, &used("tok-1", 11, "198.51.100.5"))
        .await
        .unwrap();
    assert_eq!(
        s.token_uses(&a).await.unwrap()[0],
        used("tok-1", 11, "198.51.100.5")
    );
    assert_eq!(
        s.token_uses(&b).await.unwrap(),
        vec![used("tok-9", 1, "198.51.100.4")]
    );
}
