//! Contract cases: Tenant settings: defaults, versioned conditional writes, validation, isolation.

use super::*;

/// A tenant that never wrote settings reads the defaults at version 0; each write is conditional
/// and bumps the version by one.
pub async fn settings_default_then_versioned_writes<S: Store>(s: S) {
    let t = tenant();
    assert_eq!(s.settings(&t).await.unwrap(), VersionedSettings::default());

    let mut soft = TenantSettings::default();
    soft.assign("delete_mode=hard").unwrap();
    soft.assign("group_roles.Engineering=developer,deployer").unwrap();
    assert_eq!(s.put_settings(&t, &soft, Expect::Version(0)).await, Ok(1));
    let read = s.settings(&t).await.unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(read.settings, soft);

    // A writer that read version 0 lost the race: nothing changes.
    let link = TenantSettings {
        conflict_policy: ConflictPolicy::Link,
        ..TenantSettings::default()
    };
    assert_eq!(
        s.put_settings(&t, &link, Expect::Version(0)).await,
        Err(StoreError::VersionConflict { current: 1 })
    );
    assert_eq!(s.settings(&t).await.unwrap().settings, soft);
    assert_eq!(s.put_settings(&t, &link, Expect::Version(1)).await, Ok(2));
    assert_eq!(s.put_settings(&t, &link, Expect::Any).await, Ok(3));
    let read = s.settings(&t).await.unwrap();
    assert_eq!((read.version, read.settings.delete_mode), (3, DeleteMode::Soft));
}

/// Settings belong to one tenant, and invalid settings are never stored.
pub async fn settings_are_per_tenant_and_validated<S: Store>(s: S) {
    let (a, b) = (tenant(), tenant());
    let hard = TenantSettings {
        delete_mode: DeleteMode::Hard,
        ..TenantSettings::default()
    };
    s.put_settings(&a, &hard, Expect::Any).await.unwrap();
    assert_eq!(s.settings(&b).await.unwrap(), VersionedSettings::default());

    let bad = TenantSettings {
        retention_days: 0,
        ..TenantSettings::default()
    };
    assert!(matches!(
        s.put_settings(&b, &bad, Expect::Any).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.settings(&b).await.unwrap().version, 0);
}
