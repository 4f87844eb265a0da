"""DynamoDB Streams on moto 5.2.x, bounded for a long-running local stack.

moto keeps every shard iterator it ever hands out (`DynamoDBStreamsBackend.shard_iterators`),
and every GetRecords hands out a new one, even when there is nothing to read. The local stack
polls the messages table's stream several times a second (as Lambda's event source mapping
polls DynamoDB Streams), which would grow moto by ~1 KB per poll for as long as it runs.

Here a GetRecords call retires the iterator it was given, as the local stack never reuses one
(it always continues from NextShardIterator). DynamoDB lets an iterator be read again for 15
minutes; nothing here relies on that. Set MOTO_SERVER_NO_MEMORY_FIXES=1 to run moto as shipped.
"""

import os


def install() -> None:
    if os.environ.get("MOTO_SERVER_NO_MEMORY_FIXES"):
        return
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    original = DynamoDBStreamsBackend.get_records

    def get_records(self, iterator_arn, limit):
        result = original(self, iterator_arn, limit)
        self.shard_iterators.pop(iterator_arn, None)
        return result

    DynamoDBStreamsBackend.get_records = get_records
