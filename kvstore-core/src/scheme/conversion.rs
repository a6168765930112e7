//! How an object of one version of a kind becomes another version: through the kind's hub,
//! with the store's metadata kept, a panic in a conversion contained, and a loss found.
//!
//! A conversion is user code. Around each call the scheme moves the object's metadata out and
//! back: a conversion sees (and may change) the annotations only — where a version can keep
//! what another cannot represent — and the name, namespace, uid, resource version, timestamps
//! and labels come out as they went in. A conversion that panics becomes an error; nothing is
//! locked while it runs, so nothing is poisoned.
//!
//! A loss is found through the hub, which must represent every version: converting an object
//! from the hub to a version and back must give the hub back. When it does not (a field the
//! version lacks), the conversion lost data.

use std::any::Any;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::AnyObject;
use crate::codec::{CodecError, CodecFor};
use crate::error::BoxError;
use crate::meta::TypeMeta;
use crate::object::Object;

/// An object of some registered version, type-erased.
pub(crate) type Boxed = Box<dyn AnyObject>;

/// A conversion between a version and its kind's hub, type-erased.
pub(crate) type Convert = Arc<dyn Fn(Boxed) -> Result<Boxed, BoxError> + Send + Sync>;

/// One version of a kind: its type, codec functions and conversions to and from the hub.
pub(crate) struct VersionEntry<C> {
    pub(crate) type_meta: TypeMeta,
    pub(crate) type_id: std::any::TypeId,
    pub(crate) type_name: &'static str,
    pub(crate) decode: fn(&C, &[u8]) -> Result<Boxed, CodecError>,
    pub(crate) decode_dynamic: super::DecodeFn<C>,
    pub(crate) encode: fn(&C, &dyn AnyObject) -> Result<Vec<u8>, CodecError>,
    /// `None` for the hub itself.
    pub(crate) conversions: Option<(Convert, Convert)>,
}

impl<C> VersionEntry<C> {
    /// The entry of type `K`, converting with `conversions` (`None` for the hub).
    pub(crate) fn of<K: Object>(conversions: Option<(Convert, Convert)>) -> Self
    where
        C: CodecFor<K>,
    {
        VersionEntry {
            type_meta: K::type_meta(),
            type_id: std::any::TypeId::of::<K>(),
            type_name: std::any::type_name::<K>(),
            decode: decode_boxed::<C, K>,
            decode_dynamic: super::decode_as::<C, K>,
            encode: encode_boxed::<C, K>,
            conversions,
        }
    }
}

/// The versions of one kind, one of them its storage version.
pub(crate) struct KindVersions<C> {
    pub(crate) versions: Vec<VersionEntry<C>>,
    /// Index of the storage version in `versions`.
    pub(crate) storage: usize,
    /// Whether two hub objects are equal.
    pub(crate) hub_eq: fn(&dyn AnyObject, &dyn AnyObject) -> bool,
}

/// Why a conversion did not give an object.
pub(crate) enum Failure {
    /// The conversion returned an error or panicked.
    Failed(BoxError),
    /// The result cannot represent everything the object held.
    Lossy,
}

impl From<BoxError> for Failure {
    fn from(err: BoxError) -> Self {
        Failure::Failed(err)
    }
}

impl<C> KindVersions<C> {
    /// The index of `api_version` among the versions.
    pub(crate) fn index_of(&self, api_version: &str) -> Option<usize> {
        self.versions
            .iter()
            .position(|v| v.type_meta.api_version == api_version)
    }

    /// The hub (every version converts through it): the version without conversions.
    pub(crate) fn hub(&self) -> &VersionEntry<C> {
        self.versions
            .iter()
            .find(|v| v.conversions.is_none())
            .unwrap_or(&self.versions[0])
    }

    /// `object` of version `from` as a hub object.
    fn to_hub(&self, object: Boxed, from: usize) -> Result<Boxed, BoxError> {
        match &self.versions[from].conversions {
            Some((to_hub, _)) => step(to_hub, object),
            None => Ok(object),
        }
    }

    /// A hub object as version `to`.
    fn out_of_hub(&self, hub: Boxed, to: usize) -> Result<Boxed, BoxError> {
        match &self.versions[to].conversions {
            Some((_, from_hub)) => step(from_hub, hub),
            None => Ok(hub),
        }
    }

    /// `object` of version `from` as version `to`, through the hub, and whether that lost
    /// what the hub held (checked when `to` is not the hub).
    pub(crate) fn convert(
        &self,
        object: Boxed,
        from: usize,
        to: usize,
    ) -> Result<(Boxed, bool), BoxError> {
        if from == to {
            return Ok((object, false));
        }
        let hub = self.to_hub(object, from)?;
        if self.versions[to].conversions.is_none() {
            return Ok((hub, false));
        }
        let kept = hub.clone_boxed();
        let converted = self.out_of_hub(hub, to)?;
        let back = self.to_hub(converted.clone_boxed(), to)?;
        let equal =
            catch_unwind(AssertUnwindSafe(|| (self.hub_eq)(&*kept, &*back))).map_err(|panic| {
                BoxError::from(format!("comparing hubs panicked: {}", message(&*panic)))
            })?;
        Ok((converted, !equal))
    }

    /// `object` of version `from` as the storage version, refusing a loss.
    pub(crate) fn to_storage(&self, object: Boxed, from: usize) -> Result<Boxed, Failure> {
        match self.convert(object, from, self.storage)? {
            (_, true) => Err(Failure::Lossy),
            (converted, false) => Ok(converted),
        }
    }
}

/// Runs one conversion: the metadata but its annotations moved out and back, a panic caught.
fn step(convert: &Convert, mut object: Boxed) -> Result<Boxed, BoxError> {
    let meta = object.metadata_mut();
    let mut kept = mem::take(meta);
    meta.annotations = mem::take(&mut kept.annotations);
    let mut converted = catch_unwind(AssertUnwindSafe(|| convert(object))).map_err(|panic| {
        BoxError::from(format!("the conversion panicked: {}", message(&*panic)))
    })??;
    let meta = converted.metadata_mut();
    kept.annotations = mem::take(&mut meta.annotations);
    *meta = kept;
    Ok(converted)
}

/// The message of a panic's payload.
fn message(panic: &(dyn Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

/// A conversion from `A` to `B`, type-erased.
pub(crate) fn erase<A: Object, B: Object, E: Into<BoxError>>(
    convert: impl Fn(A) -> Result<B, E> + Send + Sync + 'static,
) -> Convert {
    Arc::new(move |object: Boxed| {
        let object = object
            .into_any()
            .downcast::<A>()
            .map_err(|_| BoxError::from("a conversion was given an object of another type"))?;
        convert(*object)
            .map(|converted| Box::new(converted) as Boxed)
            .map_err(Into::into)
    })
}

fn decode_boxed<C: CodecFor<K>, K: Object>(codec: &C, bytes: &[u8]) -> Result<Boxed, CodecError> {
    Ok(Box::new(codec.decode(bytes)?))
}

fn encode_boxed<C: CodecFor<K>, K: Object>(
    codec: &C,
    object: &dyn AnyObject,
) -> Result<Vec<u8>, CodecError> {
    match object.as_any().downcast_ref::<K>() {
        Some(object) => codec.encode(object),
        None => Err(CodecError::Encode {
            format: codec.format(),
            source: "an object of another type than its version's".into(),
        }),
    }
}

/// Whether two objects are equal hubs of type `H`.
pub(crate) fn hub_eq<H: Object + PartialEq>(a: &dyn AnyObject, b: &dyn AnyObject) -> bool {
    match (
        a.as_any().downcast_ref::<H>(),
        b.as_any().downcast_ref::<H>(),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
