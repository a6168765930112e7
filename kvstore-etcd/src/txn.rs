//! kvstore transactions as etcd transactions.

use etcd_client::{CompareOp as EtcdOp, DeleteOptions, PutOptions, TxnOpResponse};
use kvstore_core::backend::{
    Compare, CompareOp, CompareTarget, PutLease, Txn, TxnOp, TxnOpResult, TxnResponse,
};
use kvstore_core::Result;

use crate::keys::{etcd_revision, header_revision, Namespace};

fn compare(ns: &Namespace, compare: &Compare) -> Result<etcd_client::Compare> {
    let op = match compare.op {
        CompareOp::Equal => EtcdOp::Equal,
        CompareOp::NotEqual => EtcdOp::NotEqual,
        CompareOp::Greater => EtcdOp::Greater,
        CompareOp::Less => EtcdOp::Less,
    };
    let key = ns.key(&compare.key);
    Ok(match compare.target {
        CompareTarget::ModRevision(r) => {
            etcd_client::Compare::mod_revision(key, op, etcd_revision(r)?)
        }
        CompareTarget::CreateRevision(r) => {
            etcd_client::Compare::create_revision(key, op, etcd_revision(r)?)
        }
    })
}

fn op(ns: &Namespace, op: &TxnOp) -> etcd_client::TxnOp {
    match op {
        TxnOp::Put { key, value, lease } => {
            let options = match lease {
                PutLease::Detach => PutOptions::new(),
                PutLease::Keep => PutOptions::new().with_ignore_lease(),
                PutLease::Attach(id) => PutOptions::new().with_lease(id.0),
            };
            etcd_client::TxnOp::put(ns.key(key), value.to_vec(), Some(options))
        }
        TxnOp::Get { key } => etcd_client::TxnOp::get(ns.key(key), None),
        TxnOp::Delete { key } => {
            etcd_client::TxnOp::delete(ns.key(key), Some(DeleteOptions::new().with_prev_key()))
        }
        TxnOp::DeleteRange { key, range_end } => etcd_client::TxnOp::delete(
            ns.key(key),
            Some(
                DeleteOptions::new()
                    .with_range(ns.key(range_end))
                    .with_prev_key(),
            ),
        ),
    }
}

/// The etcd transaction for `txn`.
pub(crate) fn request(ns: &Namespace, txn: &Txn) -> Result<etcd_client::Txn> {
    let compares = txn
        .compare
        .iter()
        .map(|c| compare(ns, c))
        .collect::<Result<Vec<_>>>()?;
    let success: Vec<_> = txn.success.iter().map(|o| op(ns, o)).collect();
    let failure: Vec<_> = txn.failure.iter().map(|o| op(ns, o)).collect();
    Ok(etcd_client::Txn::new()
        .when(compares)
        .and_then(success)
        .or_else(failure))
}

/// The etcd transaction running every transaction of `txns` as a nested transaction of its
/// own (each with its own compares and branches), in order.
pub(crate) fn batch(ns: &Namespace, txns: &[Txn]) -> Result<etcd_client::Txn> {
    let nested = txns
        .iter()
        .map(|t| request(ns, t).map(etcd_client::TxnOp::txn))
        .collect::<Result<Vec<_>>>()?;
    Ok(etcd_client::Txn::new().and_then(nested))
}

/// The kvstore answers for the etcd response to [`batch`]`(txns)`.
pub(crate) fn batch_response(
    ns: &Namespace,
    txns: &[Txn],
    response: &etcd_client::TxnResponse,
) -> Result<Vec<TxnResponse>> {
    let revision = header_revision(response.header());
    let nested = response.op_responses();
    if nested.len() != txns.len() {
        return Err(kvstore_core::Error::Backend {
            message: format!(
                "etcd answered a batch of {} transactions with {} results",
                txns.len(),
                nested.len()
            ),
            source: None,
        });
    }
    txns.iter()
        .zip(nested)
        .map(|(txn, answer)| match answer {
            TxnOpResponse::Txn(answer) => response_at(ns, txn, &answer, revision),
            _ => Err(kvstore_core::Error::Backend {
                message: "etcd answered a nested transaction with another operation".to_owned(),
                source: None,
            }),
        })
        .collect()
}

/// The kvstore answer for an etcd transaction response to `request`.
pub(crate) fn response(
    ns: &Namespace,
    request: &Txn,
    response: &etcd_client::TxnResponse,
) -> Result<TxnResponse> {
    response_at(ns, request, response, header_revision(response.header()))
}

/// The answer for `response` to `request`, at the store revision `revision`.
fn response_at(
    ns: &Namespace,
    request: &Txn,
    response: &etcd_client::TxnResponse,
    revision: u64,
) -> Result<TxnResponse> {
    let ran = if response.succeeded() {
        &request.success
    } else {
        &request.failure
    };
    // Puts return nothing kvstore uses: no need to copy the etcd responses out.
    let results = if ran.iter().all(|op| matches!(op, TxnOp::Put { .. })) {
        vec![TxnOpResult::Put; ran.len()]
    } else {
        results(ns, response)?
    };
    Ok(TxnResponse {
        succeeded: response.succeeded(),
        revision,
        results,
    })
}

fn results(ns: &Namespace, response: &etcd_client::TxnResponse) -> Result<Vec<TxnOpResult>> {
    response
        .op_responses()
        .into_iter()
        .map(|r| {
            Ok(match r {
                TxnOpResponse::Put(_) | TxnOpResponse::Txn(_) => TxnOpResult::Put,
                TxnOpResponse::Get(mut get) => {
                    TxnOpResult::Get(ns.key_values(get.take_kvs())?.into_iter().next())
                }
                TxnOpResponse::Delete(mut delete) => {
                    TxnOpResult::Delete(ns.key_values(delete.take_prev_kvs())?)
                }
            })
        })
        .collect()
}
