-- The inbox is pruned (propfee.consumer.prune_inbox): rows of a consumer group processed
-- before its horizon (topic retention + dead-letter window + a margin) are deleted in batches.
CREATE INDEX inbox_processed_at ON inbox (consumer_group, processed_at);
