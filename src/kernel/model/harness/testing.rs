//! Escape hatches that exist only to prove the verifier: they let a test driver commit the C
//! bugs the boundary's types rule out.

use crate::kernel::model::Irp;

/// A second token for the same IRP: what a C driver has when it keeps a PIRP after completing
/// it. Completing both is the double completion the verifier must catch.
pub fn forge_second_irp_token(irp: &Irp) -> Irp {
    Irp { id: irp.id }
}
