-- Schema version 3: finding an earlier approval of the same exchange.
--
-- In `message` mode the guard answers an escalated request with a holding message and asks the
-- client to try again later. The retry carries the same request; the proxy puts a fingerprint
-- of it (API key, model, messages) in the exchange it queues, and looks here for an approved
-- review with that fingerprint, so that a retry after the approval goes through.
CREATE INDEX review_queue_by_fingerprint
    ON review_queue (json_extract(exchange, '$.fingerprint'), status);
