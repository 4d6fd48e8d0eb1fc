-- The trace context (W3C traceparent) of the call an ack acknowledges, when the gateway traced it:
-- the acker's POST joins the call's trace (runtime/tracing.py). NULL when tracing is off.
ALTER TABLE ack_outbox ADD COLUMN trace_parent text;
