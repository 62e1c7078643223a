// KafkaJS, used as its documentation shows: producer.send with keys,
// headers and compression (snappy through kafkajs-snappy, registered in
// CompressionCodecs), consumer.run with eachMessage in a group, commitOffsets,
// and the admin client. Reports what it saw as JSON lines (run.py checks).
const path = require('path')
const modules = path.join(__dirname, '..', '..', '..', '..', 'target', 'clients', 'node', 'node_modules')
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require(path.join(modules, 'kafkajs'))
const SnappyCodec = require(path.join(modules, 'kafkajs-snappy'))
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec

const args = JSON.parse(process.argv[process.argv.length - 1])
const half = Math.floor(args.records / 2)
const codecs = { gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy }
const kafka = new Kafka({
  clientId: 'ringlog-matrix',
  brokers: [args.bootstrap],
  logLevel: logLevel.ERROR,
  requestTimeout: 8000,
  retry: { retries: 3 }
})

const emit = (ev, fields) => console.log(JSON.stringify({ ev, ...fields }))
const text = (buffer) => (buffer == null ? null : buffer.toString())
const record = (i) => ({
  key: `key-${i % 4}`,
  value: `${args.topic}:${i}`,
  headers: { seq: String(i), client: 'ringlog-matrix' }
})
const range = (from, to) => Array.from({ length: to - from }, (_, n) => from + n)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function produce (indices) {
  const producer = kafka.producer()
  await producer.connect()
  const messages = indices.map(record)
  // One send per record: KafkaJS answers each send with the base offset of its batch.
  for (const message of messages) {
    const [meta] = await producer.send({
      topic: args.topic,
      acks: -1,
      compression: codecs[args.scenario] || CompressionTypes.None,
      messages: [message]
    })
    emit('produced', { partition: meta.partition, offset: Number(meta.baseOffset), key: message.key, value: message.value })
  }
  await producer.disconnect()
}

async function consume (group, want, phase, onDone) {
  const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 })
  await consumer.connect()
  await consumer.subscribe({ topics: [args.topic], fromBeginning: true })
  const got = []
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, offset: Number(message.offset) })
      const headers = Object.entries(message.headers || {}).map(([k, v]) => [k, text(v)])
      emit('consumed', { phase, partition, offset: Number(message.offset), key: text(message.key), value: text(message.value), headers })
    }
  })
  const deadline = Date.now() + 15000
  while (got.length < want && Date.now() < deadline) await sleep(100)
  const positions = {}
  for (const { partition, offset } of got) positions[partition] = offset + 1
  await onDone(consumer, positions)
  await consumer.disconnect()
  return got
}

async function commit (consumer, positions) {
  const topics = Object.entries(positions).map(([partition, offset]) => ({ topic: args.topic, partition: Number(partition), offset: String(offset) }))
  await consumer.commitOffsets(topics)
  for (const t of topics) emit('committed', { phase: 'a', partition: t.partition, offset: Number(t.offset) })
}

async function produceConsume () {
  await produce(range(0, args.records))
  await consume(`${args.group}-reader`, args.records, null, async () => {})
}

async function groupResume () {
  await produce(range(0, half))
  await consume(args.group, half, 'a', commit)
  await produce(range(half, args.records))
  await consume(args.group, args.records - half, 'b', async () => {})
  const admin = kafka.admin()
  await admin.connect()
  for (const { partitions } of await admin.fetchOffsets({ groupId: args.group, topics: [args.topic] })) {
    for (const p of partitions) if (Number(p.offset) >= 0) emit('fetched_commit', { partition: p.partition, offset: Number(p.offset) })
  }
  await admin.disconnect()
}

async function groupAdmin () {
  await produce(range(0, args.records))
  await consume(args.group, args.records, null, commit)
  const admin = kafka.admin()
  await admin.connect()
  const listed = async () => (await admin.listGroups()).groups.some((g) => g.groupId === args.group)
  emit('fact', { name: 'listed', value: await listed() })
  const { groups } = await admin.describeGroups([args.group])
  emit('fact', { name: 'state', value: groups[0].state })
  const [offsets] = await admin.fetchOffsets({ groupId: args.group, topics: [args.topic] })
  emit('fact', { name: 'committed', value: offsets.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) })
  await admin.deleteGroups([args.group])
  emit('fact', { name: 'deleted', value: true })
  emit('fact', { name: 'listed_after_delete', value: await listed() })
  await admin.disconnect()
}

async function admin () {
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: args.topic, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }]
  })
  emit('fact', { name: 'created', value: created })
  const partitions = async () => (await admin.fetchTopicMetadata({ topics: [args.topic] })).topics[0].partitions.length
  emit('fact', { name: 'partitions', value: await partitions() })
  await admin.createPartitions({ topicPartitions: [{ topic: args.topic, count: 4 }] })
  emit('fact', { name: 'grown_partitions', value: await partitions() })
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: args.topic }] })
  const entry = resources[0].configEntries.find((e) => e.configName === 'retention.ms')
  emit('fact', { name: 'retention_ms', value: entry && entry.configValue })
  await admin.deleteTopics({ topics: [args.topic] })
  await sleep(200)
  emit('fact', { name: 'deleted', value: !(await admin.listTopics()).includes(args.topic) })
  await admin.disconnect()
}

const scenarios = { produce_consume: produceConsume, gzip: produceConsume, snappy: produceConsume, group_resume: groupResume, group_admin: groupAdmin, admin }
scenarios[args.scenario]().then(() => process.exit(0), (error) => {
  console.error(`${error.name}: ${error.message}`)
  process.exit(1)
})
