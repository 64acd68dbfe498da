-- wecom.transfers: custody's handovers of corps whose handovers WeCom
-- carries out, and where each stands with WeCom. A row is written before
-- transfer_customer is called ('calling'), so a crash or an ambiguous
-- failure is followed by a look at transfer_result, never a blind second
-- call.
CREATE SCHEMA IF NOT EXISTS wecom;
CREATE TABLE IF NOT EXISTS wecom.transfers (
	corp_id       text        NOT NULL,
	handover_id   text        NOT NULL,
	customer_id   text        NOT NULL,
	from_staff_id text        NOT NULL,
	to_staff_id   text        NOT NULL,
	resigned      boolean     NOT NULL,
	deadline      timestamptz NOT NULL,
	state         text        NOT NULL, -- calling | waiting | done
	wecom_code    int,                  -- transfer_customer's per-customer errcode
	wecom_status  int,                  -- last transfer_result status
	takeover_time timestamptz,
	polls         int         NOT NULL DEFAULT 0,
	outcome       text        NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (corp_id, handover_id)
);
CREATE INDEX IF NOT EXISTS transfers_open_idx ON wecom.transfers (corp_id, from_staff_id, to_staff_id) WHERE state <> 'done';

-- wecom.group_transfers: the last group-owner change custody asked WeCom
-- for, per group. Written 'calling' before groupchat/transfer or
-- groupchat/onjob_transfer is called: after a crash or an ambiguous
-- failure, groupchat/get's owner says whether it happened before WeCom is
-- asked again (WeCom has no transfer_result for groups).
CREATE TABLE IF NOT EXISTS wecom.group_transfers (
	corp_id    text        NOT NULL,
	chat_id    text        NOT NULL,
	new_owner  text        NOT NULL,
	resigned   boolean     NOT NULL,
	state      text        NOT NULL, -- calling | done | refused
	wecom_code int,                  -- failed_chat_list's errcode, or the call's
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (corp_id, chat_id)
);
