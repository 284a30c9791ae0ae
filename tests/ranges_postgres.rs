//! Range types against PostgreSQL 15: values of every built-in range type, with each operator,
//! function, constructor and cast, evaluated by Solobase's SQL path and by a throwaway Postgres
//! cluster; and a schema using ranges in check constraints, a trigger, a plpgsql function and a
//! SQL function. The rows, or the SQLSTATE of the refusal, must agree.

mod oracle;

use oracle::{Postgres, Solobase};

/// Each range type with values of every shape (bounds inclusive, exclusive, unbounded and
/// infinite; empty; input that is not canonical) and an element to look for in them.
const SAMPLES: &[(&str, &[&str], &str)] = &[
    (
        "int4range",
        &[
            "empty", "[1,5)", "[1,5]", "(1,5)", "(,3)", "[3,)", "(,)", "[5,10)", "[2,3)", "[0,1)",
            "[5,5]",
        ],
        "3",
    ),
    (
        "int8range",
        &["empty", "[1,3000000000)", "(,2]", "[2,4)", "[-5,0)"],
        "2::bigint",
    ),
    (
        "numrange",
        &[
            "empty",
            "[1.5,2.5)",
            "(1.5,2.5]",
            "[2.5,3]",
            "(,0)",
            "[0,)",
            "[2,2]",
            "(-1e-2,1e2)",
        ],
        "2.5",
    ),
    (
        "daterange",
        &[
            "empty",
            "[2024-01-01,2024-02-01)",
            "[2024-01-31,2024-02-29]",
            "(,2024-01-01)",
            "[2024-02-01,infinity)",
            "[-infinity,infinity]",
        ],
        "'2024-01-31'::date",
    ),
    (
        "tsrange",
        &[
            "empty",
            "[2024-01-01 10:00,2024-01-01 12:00)",
            "(2024-01-01 12:00,2024-01-02]",
            "[2024-01-01 11:30:00.5,)",
            "(,2024-01-01 10:00]",
        ],
        "'2024-01-01 12:00'::timestamp",
    ),
    (
        "tstzrange",
        &[
            "empty",
            "[2024-01-01 10:00+02,2024-01-01 12:00+00)",
            "[2024-01-01 12:00+00,)",
            "(,2024-01-01 08:00:00+00]",
        ],
        "'2024-01-01 08:00+00'::timestamptz",
    ),
];

/// The operators of two ranges that answer a boolean.
const OPERATORS: &[&str] = &[
    "@>", "<@", "&&", "<<", ">>", "&<", "&>", "-|-", "=", "<>", "<", "<=", ">", ">=",
];

/// The queries each range type's sample table (`{kind}_samples`, columns `id` and `r`) answers:
/// every pair under each operator, union, intersection, difference and `range_merge` (`+` and
/// `-` where they give one range), the functions of each value, and element containment.
fn sample_queries(kind: &str, element: &str) -> Vec<String> {
    let table = format!("public.{kind}_samples");
    let operators: Vec<String> = OPERATORS
        .iter()
        .map(|operator| format!("(a.r {operator} b.r)::int"))
        .collect();
    // Timestamps print differently in SQLite's stored form; they are rebuilt into a range.
    let bounds = match kind {
        "tsrange" | "tstzrange" => "",
        _ => "lower(r), upper(r),",
    };
    vec![
        format!(
            "select a.id, b.id, {} from {table} a, {table} b order by a.id, b.id",
            operators.join(", ")
        ),
        format!(
            "select a.id, b.id, (a.r * b.r)::text, range_merge(a.r, b.r)::text, \
             case when isempty(a.r) or isempty(b.r) or a.r && b.r or a.r -|- b.r then (a.r + b.r)::text end, \
             case when isempty(a.r) or isempty(b.r) or a.r &< b.r or a.r &> b.r then (a.r - b.r)::text end \
             from {table} a, {table} b order by a.id, b.id"
        ),
        format!(
            "select id, r::text, {bounds} isempty(r)::int, lower_inc(r)::int, upper_inc(r)::int, \
             lower_inf(r)::int, upper_inf(r)::int, \
             {kind}(lower(r), upper(r), case when lower_inc(r) then '[' else '(' end || case when upper_inc(r) then ']' else ')' end)::text \
             from {table} order by id"
        ),
        format!(
            "select id, (r @> {element})::int, ({element} <@ r)::int, (r @> '[,]')::int \
             from {table} order by id"
        ),
    ]
}

/// Constructors, casts and the refusals of each (SQLSTATEs compared).
const SINGLE: &[&str] = &[
    "select int4range(1, 5, '[]')::text, int4range(null, 5)::text, int8range(1, 2)::text",
    "select numrange(1.5, 2.25, '(]')::text, numrange(1.50, 2)::text",
    "select daterange('2024-01-01', '2024-01-03', '[]')::text",
    "select tsrange('2024-01-01 10:00', '2024-01-01 11:00', '()')::text",
    "select tstzrange('2024-01-01 10:00+02', null)::text",
    "select lower('[3,7]'::int4range), upper('[3,7]'::int4range), ('[1,2]'::int4range = '[1,3)')::int",
    "select '[5,1]'::int4range",
    "select 'x'::int4range",
    "select '[1,3000000000)'::int4range",
    "select int4range(1, 5, 'x')",
    "select int4range(5, 1)",
    "select '[1,5)'::int4range + '[7,9)'",
    "select '[1,9)'::int4range - '[3,5)'",
    "select '[1,5)'::int4range @> '5'",
];

#[test]
fn range_operators_and_functions_answer_as_postgres() {
    let postgres = Postgres::start();
    let mut solobase = Solobase::new();
    for (index, (kind, values, _)) in SAMPLES.iter().enumerate() {
        let rows: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(id, value)| format!("({id}, '{value}')"))
            .collect();
        let migration = format!(
            "create table public.{kind}_samples (id int primary key, r {kind});\n\
             insert into public.{kind}_samples values {};",
            rows.join(", ")
        );
        postgres.run(&migration).unwrap();
        solobase.migrate(index, &migration);
    }
    for (kind, _, element) in SAMPLES {
        for query in sample_queries(kind, element) {
            assert_eq!(
                solobase.query(&query, None),
                postgres.query(&query, None),
                "{query}"
            );
        }
    }
    for query in SINGLE {
        assert_eq!(
            solobase.outcome(query, None),
            postgres.outcome(query, None),
            "{query}"
        );
    }
}

/// Rooms whose seats are checked to be a non-empty range within `[1,100]`, clamped by a
/// trigger; a SQL function taking a range, a plpgsql one with range variables.
const ROOMS: &str = r#"
create table public.rooms (
  id int primary key,
  seats int4range not null check (not isempty(seats)),
  open daterange,
  constraint rooms_seats_within check (seats <@ '[1,100]')
);

create function public.rooms_clamped() returns trigger language plpgsql as $$
begin
  new.seats := new.seats * '[1,50]'::int4range;
  return new;
end $$;
create trigger rooms_clamped before insert on public.rooms
  for each row execute function public.rooms_clamped();

create function public.rooms_overlapping(wanted int4range) returns bigint language sql stable as $$
  select count(*) from public.rooms where seats && wanted
$$;

create function public.widened(r int4range, by_ int) returns text language plpgsql as $$
declare
  w int4range := r;
begin
  if isempty(w) then
    return 'empty';
  end if;
  w := int4range(lower(w) - by_, upper(w) + by_);
  return w::text || case when w @> upper(r) then ' covers' else ' short' end;
end $$;

insert into public.rooms values
  (1, '[2,10]', '[2024-01-01,2024-12-31]'),
  (2, '(0,80)', null),
  (3, '[10,20)', '[2024-06-01,)');
update public.rooms set open = '[2024-02-01,2024-02-29]' where id = 2;
"#;

const ROOM_CHECKS: &[&str] = &[
    "select id, seats::text, open::text from public.rooms order by id",
    "select public.rooms_overlapping('[15,16)'), public.rooms_overlapping(int4range(60, 70))",
    "select public.widened('[3,5)', 2), public.widened('empty', 1)",
    "select id from public.rooms where seats @> 15 and open && daterange('2024-06-01', '2024-07-01')",
];

#[test]
fn ranges_in_checks_triggers_and_functions_behave_as_in_postgres() {
    let postgres = Postgres::start();
    postgres.run(ROOMS).unwrap();
    let mut solobase = Solobase::new();
    solobase.migrate(0, ROOMS);
    for check in ROOM_CHECKS {
        assert_eq!(
            solobase.query(check, None),
            postgres.query(check, None),
            "{check}"
        );
    }
    // Empty seats fail the check, after the trigger too.
    let empty = "insert into public.rooms values (4, 'empty', null);";
    let postgres_error = postgres.run(empty).unwrap_err();
    assert!(
        postgres_error.contains("23514") && postgres_error.contains("rooms_seats_check"),
        "{postgres_error}"
    );
    let solobase_error = solobase.refused(empty);
    assert!(
        solobase_error.contains("CHECK constraint failed: rooms_seats_check"),
        "{solobase_error}"
    );
}
