//! Codecs: encode and decode time, and encoded size, for JSON, Protobuf and the binary codecs
//! (postcard; bincode with `--features bincode`) on a small (≈200 byte) and a large (≈20 KiB)
//! object.
//!
//! ```sh
//! cargo bench --bench codecs --features bincode
//! ```

#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::print_stdout)] // the size report

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kvstore::{CodecFor, Json, Object, ObjectMeta, Postcard, Protobuf};
use serde::{Deserialize, Serialize};

/// The small object: a service endpoint with full metadata.
#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message, Object)]
#[object(kind = "Endpoint", api_version = "bench.kvstore/v1")]
struct Endpoint {
    #[prost(message, required, tag = "1")]
    metadata: ObjectMeta,
    #[prost(string, tag = "2")]
    address: String,
    #[prost(uint32, tag = "3")]
    port: u32,
}

/// The large object: a configuration document of many lines.
#[derive(Clone, PartialEq, Serialize, Deserialize, prost::Message, Object)]
#[object(kind = "Document", api_version = "bench.kvstore/v1")]
struct Document {
    #[prost(message, required, tag = "1")]
    metadata: ObjectMeta,
    #[prost(string, repeated, tag = "2")]
    lines: Vec<String>,
    #[prost(uint64, repeated, tag = "3")]
    checksums: Vec<u64>,
}

fn metadata(name: &str) -> ObjectMeta {
    let mut metadata = ObjectMeta::named(name)
        .in_namespace("prod")
        .with_label("app", "web");
    metadata.uid = Some(uuid::Uuid::from_u128(
        0x0123_4567_89ab_4def_8123_4567_89ab_cdef,
    ));
    metadata.creation_timestamp = chrono::DateTime::from_timestamp(1_700_000_000, 5);
    metadata
}

fn small() -> Endpoint {
    Endpoint {
        metadata: metadata("web-1"),
        address: "10.0.0.17".into(),
        port: 8080,
    }
}

fn large() -> Document {
    Document {
        metadata: metadata("nginx-conf"),
        lines: (0..250)
            .map(|i| format!("location /service-{i:03} {{ proxy_pass http://backend-{i:03}; }}"))
            .collect(),
        checksums: (0..250u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect(),
    }
}

fn codec<K, C>(c: &mut Criterion, object: &K, size: &str, name: &str, codec: C)
where
    K: Object,
    C: CodecFor<K>,
{
    // As the store does: encode then seal for the key (the identity for plain codecs), open
    // then decode.
    const KEY: &str = "/bench/objects/one";
    let bytes = codec.seal(KEY, codec.encode(object).unwrap()).unwrap();
    println!("{size} object, {name}: {} bytes stored", bytes.len());
    let mut group = c.benchmark_group(format!("codec/{size}/{name}"));
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| black_box(codec.seal(KEY, codec.encode(object).unwrap()).unwrap()))
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            let opened = codec.open(KEY, &bytes).unwrap();
            black_box(CodecFor::<K>::decode(&codec, &opened).unwrap())
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let (small, large) = (small(), large());
    codec(c, &small, "small", "json", Json);
    codec(c, &small, "small", "protobuf", Protobuf);
    codec(c, &small, "small", "postcard", Postcard);
    codec(c, &large, "large", "json", Json);
    codec(c, &large, "large", "protobuf", Protobuf);
    codec(c, &large, "large", "postcard", Postcard);
    #[cfg(feature = "bincode")]
    {
        codec(c, &small, "small", "bincode", kvstore::Bincode);
        codec(c, &large, "large", "bincode", kvstore::Bincode);
    }
    #[cfg(feature = "encryption")]
    {
        use kvstore::encryption::{Encrypted, EncryptionKey, KeyRing};
        let ring = || KeyRing::new(EncryptionKey::new("bench", &[3; 32]).unwrap());
        codec(
            c,
            &small,
            "small",
            "json+aes-gcm",
            Encrypted::new(Json, ring()),
        );
        codec(
            c,
            &small,
            "small",
            "postcard+aes-gcm",
            Encrypted::new(Postcard, ring()),
        );
        codec(
            c,
            &large,
            "large",
            "json+aes-gcm",
            Encrypted::new(Json, ring()),
        );
        codec(
            c,
            &large,
            "large",
            "postcard+aes-gcm",
            Encrypted::new(Postcard, ring()),
        );
    }
}

criterion_group!(codec_benches, benches);
criterion_main!(codec_benches);
