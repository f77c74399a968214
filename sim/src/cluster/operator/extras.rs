//! Services and PersistentVolumeClaims the operator reconciles (CreateOnly plus the
//! Service selector mutator), at the places its reconcilers do. The simulator does not
//! serve these kinds yet; when it does, build the desired objects here (system.go,
//! redis.go, zync.go, system_mysql.go name them) and reconcile them with
//! `ctx.reconcile_object`, so `--empty` installs create them too.

use super::Ctx;

pub fn service(_ctx: &Ctx, _name: &str) -> crate::Result<()> {
    Ok(())
}

pub fn persistent_volume_claim(_ctx: &Ctx, _claim: &str) -> crate::Result<()> {
    Ok(())
}
