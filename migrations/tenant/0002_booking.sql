-- Rooms, when they can be booked and for how much, customers, bookings and
-- the studio sessions they turn into.
--
-- The one promise above all: no two active holds on a room overlap. The
-- exclusion constraint on bookings.hold is the guarantee, whatever made the
-- hold (public booking, staff booking, a move, a studio session, which keeps
-- its booking's hold). A hold is [starts_at, ends_at + buffer): two holds
-- that do not overlap are at least `buffer` apart.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- One row: the studio's booking policy and defaults (a new studio can take a
-- booking at once: 30-minute steps, 1 hour minimum, 2 hours' notice,
-- 180 days ahead, no buffer, no deposit).
CREATE TABLE studio_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    slot_step_minutes int NOT NULL DEFAULT 30
        CHECK (slot_step_minutes IN (5, 10, 15, 20, 30, 60)),
    min_duration_minutes int NOT NULL DEFAULT 60 CHECK (min_duration_minutes > 0),
    max_duration_minutes int NOT NULL DEFAULT 720
        CHECK (max_duration_minutes >= min_duration_minutes),
    min_notice_minutes int NOT NULL DEFAULT 120 CHECK (min_notice_minutes >= 0),
    max_days_ahead int NOT NULL DEFAULT 180 CHECK (max_days_ahead BETWEEN 1 AND 730),
    buffer_minutes int NOT NULL DEFAULT 0 CHECK (buffer_minutes BETWEEN 0 AND 240),
    deposit_type text NOT NULL DEFAULT 'none' CHECK (deposit_type IN ('none', 'percent', 'fixed')),
    deposit_value bigint NOT NULL DEFAULT 0 CHECK (deposit_value >= 0),
    auto_confirm boolean NOT NULL DEFAULT true,
    hold_minutes int NOT NULL DEFAULT 30 CHECK (hold_minutes BETWEEN 5 AND 1440),
    refund_rule jsonb NOT NULL DEFAULT
        '{"type": "tiers", "tiers": [{"hours_before": 48, "refund_percent": 100},
                                      {"hours_before": 24, "refund_percent": 50}]}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO studio_settings DEFAULT VALUES;

CREATE TABLE rooms (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    description text NOT NULL DEFAULT '',
    capacity int CHECK (capacity IS NULL OR capacity > 0),
    hourly_rate bigint NOT NULL DEFAULT 0 CHECK (hourly_rate >= 0),
    equipment jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(equipment) = 'array'),
    color text NOT NULL DEFAULT '#3b5bdb' CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
    photo_url text,
    active boolean NOT NULL DEFAULT true,
    min_duration_minutes int CHECK (min_duration_minutes IS NULL OR min_duration_minutes > 0),
    max_duration_minutes int CHECK (max_duration_minutes IS NULL OR max_duration_minutes > 0),
    slot_step_minutes int CHECK (slot_step_minutes IS NULL OR slot_step_minutes IN (5, 10, 15, 20, 30, 60)),
    archived_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX rooms_name ON rooms (lower(name)) WHERE archived_at IS NULL;

-- Weekly opening hours: rows with room_id NULL are the studio's; a room with
-- rows of its own uses only those. ISO weekdays: 1 = Monday ... 7 = Sunday.
-- closes may be 24:00.
CREATE TABLE opening_hours (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id uuid REFERENCES rooms(id) ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens time NOT NULL,
    closes time NOT NULL CHECK (closes > opens)
);
CREATE INDEX opening_hours_room ON opening_hours (room_id, weekday);
INSERT INTO opening_hours (weekday, opens, closes)
SELECT d, '09:00', '23:00' FROM generate_series(1, 7) d;

-- Closed days (holidays), for the studio (room_id NULL) or one room.
CREATE TABLE closures (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id uuid REFERENCES rooms(id) ON DELETE CASCADE,
    starts_on date NOT NULL,
    ends_on date NOT NULL CHECK (ends_on >= starts_on),
    reason text NOT NULL DEFAULT ''
);

-- Peak / off-peak: a rate for some weekdays between two local times. Where
-- several match, the highest rate applies; where none, the room's rate.
CREATE TABLE price_rules (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id uuid NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT '',
    weekdays smallint[] NOT NULL CHECK (weekdays <@ ARRAY[1,2,3,4,5,6,7]::smallint[]
                                        AND cardinality(weekdays) > 0),
    starts time NOT NULL,
    ends time NOT NULL CHECK (ends > starts),
    hourly_rate bigint NOT NULL CHECK (hourly_rate >= 0)
);

CREATE TABLE customers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    email text NOT NULL,
    phone text NOT NULL DEFAULT '',
    notes text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX customers_email ON customers (lower(email));

CREATE TABLE bookings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    ref text NOT NULL UNIQUE,
    room_id uuid NOT NULL REFERENCES rooms(id),
    customer_id uuid NOT NULL REFERENCES customers(id),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
    hold tstzrange NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired',
                                           'completed')),
    source text NOT NULL CHECK (source IN ('public', 'staff')),
    price_amount bigint NOT NULL CHECK (price_amount >= 0),
    deposit_amount bigint NOT NULL DEFAULT 0 CHECK (deposit_amount >= 0),
    currency char(3) NOT NULL,
    paid_amount bigint NOT NULL DEFAULT 0,
    refund_amount bigint,
    refund_rule text,
    notes text NOT NULL DEFAULT '',
    staff_notes text NOT NULL DEFAULT '',
    manage_token_hash text NOT NULL,
    hold_expires_at timestamptz,
    confirmed_at timestamptz,
    cancelled_at timestamptz,
    cancel_reason text,
    created_by uuid REFERENCES users(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bookings_no_overlap EXCLUDE USING gist (room_id WITH =, hold WITH &&)
        WHERE (status IN ('pending', 'confirmed'))
);
CREATE INDEX bookings_room_time ON bookings (room_id, starts_at);
CREATE INDEX bookings_starts ON bookings (starts_at);
CREATE INDEX bookings_customer ON bookings (customer_id);
CREATE INDEX bookings_pending_hold ON bookings (hold_expires_at) WHERE status = 'pending';

-- A booking turned into a studio session keeps its booking (and so its hold).
CREATE TABLE studio_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    booking_id uuid NOT NULL UNIQUE REFERENCES bookings(id),
    engineer_id uuid REFERENCES users(id),
    status text NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'in_progress', 'done')),
    notes text NOT NULL DEFAULT '',
    checked_in_at timestamptz,
    checked_out_at timestamptz CHECK (checked_out_at IS NULL OR checked_out_at >= checked_in_at),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE session_items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id uuid NOT NULL REFERENCES studio_sessions(id) ON DELETE CASCADE,
    description text NOT NULL CHECK (length(description) BETWEEN 1 AND 200),
    quantity int NOT NULL CHECK (quantity > 0),
    unit_amount bigint NOT NULL CHECK (unit_amount >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Secret calendar feed URLs (only the token's hash is kept); room_id NULL is
-- the whole studio.
CREATE TABLE calendar_feeds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    room_id uuid REFERENCES rooms(id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
