//! The statements. Each storage call is one statement — one round trip, one snapshot (a
//! statement under READ COMMITTED sees one), atomic. Every read goes through an index: the
//! query plan of each is checked by `tests/plans.rs`.

/// The server's clock, in milliseconds of the Unix epoch: the store's clock for leases.
macro_rules! now_ms {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

/// The columns of a key as the storage reads them, after the head's two.
macro_rules! key_columns {
    () => {
        "k.key, k.value, k.create_revision, k.mod_revision, k.lease"
    };
}

pub(crate) const HEAD: &str = "SELECT head, compacted FROM kvstore_meta WHERE id = 1";

pub(crate) const NOW: &str = concat!("SELECT ", now_ms!());

/// The head, and the live keys among `$1` (in no order).
pub(crate) const GET: &str = concat!(
    "SELECT m.head, m.compacted, ",
    key_columns!(),
    " FROM kvstore_meta m LEFT JOIN kvstore_keys k ON k.key = ANY($1::bytea[]) WHERE m.id = 1"
);

/// A row of the head, then the live keys in `[$1, $2)` in key order, at most `$3` (NULL: all)
/// — as the index gives them: no sort.
pub(crate) const RANGE: &str = concat!(
    "SELECT head, compacted, NULL::bytea, NULL::bytea, NULL::bigint, NULL::bigint, NULL::bigint ",
    "FROM kvstore_meta WHERE id = 1 UNION ALL (SELECT NULL, NULL, ",
    key_columns!(),
    " FROM kvstore_keys k WHERE k.key >= $1::bytea AND k.key < $2::bytea ORDER BY k.key LIMIT $3)"
);

/// The head, its keys (in no order), and whether lease `$1` exists.
pub(crate) const LEASE_KEYS: &str = concat!(
    "SELECT m.head, m.compacted, ",
    key_columns!(),
    ", l.id IS NOT NULL FROM kvstore_meta m LEFT JOIN kvstore_leases l ON l.id = $1 ",
    "LEFT JOIN kvstore_keys k ON l.id IS NOT NULL AND k.lease = $1 AND k.lease <> 0 ",
    "WHERE m.id = 1"
);

/// The compaction point, and the log's rows of revisions `$1..=$2` unless `$1` is compacted.
pub(crate) const LOG: &str = "SELECT m.compacted, l.revision, l.position, l.key, l.value, \
     l.create_revision, l.lease, l.prev_value, l.prev_create_revision, l.prev_mod_revision, \
     l.prev_lease FROM kvstore_meta m LEFT JOIN LATERAL (SELECT * FROM kvstore_log \
     WHERE revision >= $1 AND revision <= $2 AND $1 >= m.compacted) l ON true \
     WHERE m.id = 1 ORDER BY l.revision, l.position";

/// One append, as one statement: the head moves from `$1` to `$2` only if it is still `$1`,
/// every lease of `$3` is alive, and the revoked lease `$4` (locked, so a renewal waits or
/// wins) is at the term `$5` (NULL: any); only then are the log rows, the keys' new versions
/// and deletions written, the lease removed and the listeners woken (on channel `$21`).
/// Answers whether it was written, the dead leases, and the revoked lease's term.
pub(crate) const APPEND: &str = concat!(
    "WITH cond AS (SELECT ARRAY(SELECT w.id FROM unnest($3::bigint[]) AS w(id) ",
    "WHERE NOT EXISTS (SELECT 1 FROM kvstore_leases l WHERE l.id = w.id ",
    "AND l.renewed_ms + l.ttl_ms > ",
    now_ms!(),
    ")) AS dead, ",
    "(SELECT renewed_ms FROM kvstore_leases WHERE id = $4 FOR UPDATE) AS term), ",
    "moved AS (UPDATE kvstore_meta SET head = $2 WHERE id = 1 AND head = $1 ",
    "AND cardinality((SELECT dead FROM cond)) = 0 ",
    "AND ($4::bigint IS NULL OR (SELECT term FROM cond) = coalesce($5, (SELECT term FROM cond))) ",
    "RETURNING head), ",
    "logged AS (INSERT INTO kvstore_log (revision, position, key, value, create_revision, ",
    "lease, prev_value, prev_create_revision, prev_mod_revision, prev_lease) ",
    "SELECT * FROM unnest($6::bigint[], $7::integer[], $8::bytea[], $9::bytea[], $10::bigint[], ",
    "$11::bigint[], $12::bytea[], $13::bigint[], $14::bigint[], $15::bigint[]) ",
    "WHERE EXISTS (SELECT 1 FROM moved)), ",
    "put AS (INSERT INTO kvstore_keys (key, value, create_revision, mod_revision, lease) ",
    "SELECT * FROM unnest($16::bytea[], $17::bytea[], $18::bigint[], $19::bigint[], $20::bigint[]) ",
    "WHERE EXISTS (SELECT 1 FROM moved) ON CONFLICT (key) DO UPDATE SET value = excluded.value, ",
    "create_revision = excluded.create_revision, mod_revision = excluded.mod_revision, ",
    "lease = excluded.lease), ",
    "deleted AS (DELETE FROM kvstore_keys WHERE key = ANY($22::bytea[]) ",
    "AND EXISTS (SELECT 1 FROM moved)), ",
    "revoked AS (DELETE FROM kvstore_leases WHERE id = $4 AND EXISTS (SELECT 1 FROM moved)), ",
    "woken AS (SELECT pg_notify($21, $2::text) FROM moved) ",
    "SELECT EXISTS (SELECT 1 FROM moved), (SELECT dead FROM cond), (SELECT term FROM cond), ",
    "(SELECT count(*) FROM woken)"
);

/// Drops the log before `$1` and moves the compaction point (never back).
pub(crate) const COMPACT: &str = "WITH dropped AS (DELETE FROM kvstore_log WHERE revision < $1) \
     UPDATE kvstore_meta SET compacted = greatest(compacted, $1) WHERE id = 1";

/// Reclaims the log's deleted rows and the keys' old versions (skipping a table another session
/// locks).
pub(crate) const VACUUM: &str = "VACUUM (SKIP_LOCKED) kvstore_log, kvstore_keys";

pub(crate) const CREATE_LEASE: &str = concat!(
    "INSERT INTO kvstore_leases (ttl_ms, renewed_ms) VALUES ($1, ",
    now_ms!(),
    ") RETURNING id, renewed_ms"
);

/// Begins a new term of lease `$1` (locked first, so the term before is the one replaced).
pub(crate) const TOUCH_LEASE: &str = concat!(
    "UPDATE kvstore_leases n SET renewed_ms = ",
    now_ms!(),
    " FROM (SELECT id, renewed_ms FROM kvstore_leases WHERE id = $1 FOR UPDATE) o ",
    "WHERE n.id = o.id RETURNING n.ttl_ms, o.renewed_ms, n.renewed_ms"
);

pub(crate) const LEASES: &str = "SELECT id, ttl_ms, renewed_ms FROM kvstore_leases";

/// Every statement that looks rows up, with arguments for `EXPLAIN`, for the query-plan test
/// (not the lease listing of the expiry check, which reads every lease by design).
pub fn all() -> Vec<(String, Vec<&'static str>)> {
    let append = vec![
        "0",
        "1",
        "ARRAY[7]::bigint[]",
        "8",
        "NULL",
        "ARRAY[1]::bigint[]",
        "ARRAY[0]",
        "ARRAY['/a'::bytea]",
        "ARRAY['x'::bytea]",
        "ARRAY[1]::bigint[]",
        "ARRAY[7]::bigint[]",
        "ARRAY[NULL]::bytea[]",
        "ARRAY[NULL]::bigint[]",
        "ARRAY[NULL]::bigint[]",
        "ARRAY[NULL]::bigint[]",
        "ARRAY['/a'::bytea]",
        "ARRAY['x'::bytea]",
        "ARRAY[1]::bigint[]",
        "ARRAY[1]::bigint[]",
        "ARRAY[7]::bigint[]",
        "'kvstore_probe'",
        "ARRAY['/b'::bytea]",
    ];
    vec![
        (APPEND.to_owned(), append),
        (HEAD.to_owned(), vec![]),
        (GET.to_owned(), vec!["ARRAY['/a'::bytea,'/b'::bytea]"]),
        (RANGE.to_owned(), vec!["'/a'::bytea", "'/b'::bytea", "10"]),
        (LEASE_KEYS.to_owned(), vec!["1"]),
        (LOG.to_owned(), vec!["1", "5"]),
        (COMPACT.to_owned(), vec!["1"]),
        (TOUCH_LEASE.to_owned(), vec!["1"]),
    ]
}
