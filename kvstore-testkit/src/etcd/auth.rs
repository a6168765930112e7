//! etcd users and roles for authentication tests.

use etcd_client::{Client, Permission};

/// The root user's password after [`enable_auth`].
pub const ROOT_PASSWORD: &str = "root-password";

/// Adds `user` with `password` and a role of the same name that may read and write keys
/// under `prefix` (e.g. `/app/`), adds `root` with [`ROOT_PASSWORD`], and turns authentication
/// on. For servers of the test's own: an existing cluster must not get this.
pub async fn enable_auth(endpoints: &[String], user: &str, password: &str, prefix: &str) {
    let client = Client::connect(endpoints, None)
        .await
        .expect("connect to the test etcd");
    let mut auth = client.auth_client();
    auth.role_add(user).await.expect("add a role");
    auth.role_grant_permission(user, Permission::read_write(prefix).with_prefix())
        .await
        .expect("grant the role its prefix");
    auth.user_add(user, password, None)
        .await
        .expect("add a user");
    auth.user_grant_role(user, user)
        .await
        .expect("grant the user its role");
    auth.user_add("root", ROOT_PASSWORD, None)
        .await
        .expect("add root");
    auth.user_grant_role("root", "root")
        .await
        .expect("grant root its role");
    auth.auth_enable().await.expect("turn authentication on");
}

/// A server of the test's own with [`enable_auth`] done for `user`, `password` and `prefix`.
/// Skipped when the tests use an existing cluster, which must not get authentication turned on.
pub async fn server_with_auth(
    user: &str,
    password: &str,
    prefix: &str,
) -> Result<super::TestEtcd, crate::Skipped> {
    if std::env::var_os("KVSTORE_ETCD_ENDPOINTS").is_some() {
        return Err(crate::Skipped(
            "skipping: turns auth on, which an existing cluster must not get".to_owned(),
        ));
    }
    let etcd = super::TestEtcd::start().await?;
    enable_auth(etcd.config().endpoints(), user, password, prefix).await;
    Ok(etcd)
}
