// Sarama (Debian's golang-github-shopify-sarama-dev), used as its
// documentation shows: a SyncProducer returning partition and offset, a
// Consumer reading each partition from OffsetOldest, a ConsumerGroup whose
// handler marks messages (committed when the group closes), and the
// ClusterAdmin. Config.Version comes from -version (what a user sets for
// their broker). Reports what it saw as JSON lines; run.py checks.
//
// Built by run.py in GOPATH mode from Debian's sources:
// GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type scenarioArgs struct {
	Scenario  string `json:"scenario"`
	Bootstrap string `json:"bootstrap"`
	Topic     string `json:"topic"`
	Group     string `json:"group"`
	Records   int    `json:"records"`
}

var args scenarioArgs
var version = flag.String("version", "2.1.0", "the Kafka version Sarama is configured for")

func emit(fields map[string]interface{}) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}

func fact(name string, value interface{}) {
	emit(map[string]interface{}{"ev": "fact", "name": name, "value": value})
}

func fail(format string, values ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", values...)
	os.Exit(1)
}

func config() *sarama.Config {
	cfg := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(*version)
	if err != nil {
		fail("version: %v", err)
	}
	cfg.Version = v
	cfg.ClientID = "ringlog-matrix"
	cfg.Net.DialTimeout = 8 * time.Second
	cfg.Net.ReadTimeout = 8 * time.Second
	cfg.Metadata.Retry.Max = 2
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 2
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Return.Errors = true
	cfg.Admin.Timeout = 8 * time.Second
	switch args.Scenario {
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	}
	return cfg
}

func produce(from, to int) {
	producer, err := sarama.NewSyncProducer([]string{args.Bootstrap}, config())
	if err != nil {
		fail("NewSyncProducer: %v", err)
	}
	defer producer.Close()
	for i := from; i < to; i++ {
		key, value := fmt.Sprintf("key-%d", i%4), fmt.Sprintf("%s:%d", args.Topic, i)
		message := &sarama.ProducerMessage{
			Topic: args.Topic,
			Key:   sarama.StringEncoder(key),
			Value: sarama.StringEncoder(value),
			Headers: []sarama.RecordHeader{
				{Key: []byte("seq"), Value: []byte(strconv.Itoa(i))},
				{Key: []byte("client"), Value: []byte("ringlog-matrix")},
			},
		}
		partition, offset, err := producer.SendMessage(message)
		if err != nil {
			fail("SendMessage: %v", err)
		}
		emit(map[string]interface{}{"ev": "produced", "partition": partition, "offset": offset, "key": key, "value": value})
	}
}

func report(message *sarama.ConsumerMessage, phase interface{}) {
	headers := [][]string{}
	for _, h := range message.Headers {
		headers = append(headers, []string{string(h.Key), string(h.Value)})
	}
	emit(map[string]interface{}{"ev": "consumed", "phase": phase, "partition": message.Partition,
		"offset": message.Offset, "key": string(message.Key), "value": string(message.Value), "headers": headers})
}

func produceConsume() {
	produce(0, args.Records)
	consumer, err := sarama.NewConsumer([]string{args.Bootstrap}, config())
	if err != nil {
		fail("NewConsumer: %v", err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(args.Topic)
	if err != nil {
		fail("Partitions: %v", err)
	}
	messages := make(chan *sarama.ConsumerMessage)
	errors := make(chan error, len(partitions))
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(args.Topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("ConsumePartition %d: %v", p, err)
		}
		defer pc.Close()
		go func(pc sarama.PartitionConsumer) {
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					messages <- m
				case e := <-pc.Errors():
					if e != nil {
						errors <- e
					}
				}
			}
		}(pc)
	}
	deadline := time.After(15 * time.Second)
	for got := 0; got < args.Records; {
		select {
		case m := <-messages:
			report(m, nil)
			got++
		case e := <-errors:
			fail("partition consumer: %v", e)
		case <-deadline:
			return
		}
	}
}

// handler marks every message it reads until `want` arrived.
type handler struct {
	phase     string
	want      int
	mu        sync.Mutex
	got       int
	positions map[int32]int64
	done      chan struct{}
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for message := range claim.Messages() {
		h.mu.Lock()
		if h.got < h.want {
			report(message, h.phase)
			session.MarkMessage(message, "")
			h.positions[message.Partition] = message.Offset + 1
			h.got++
			if h.got == h.want {
				close(h.done)
			}
		}
		h.mu.Unlock()
	}
	return nil
}

func groupRead(phase string, want int) map[int32]int64 {
	group, err := sarama.NewConsumerGroup([]string{args.Bootstrap}, args.Group, config())
	if err != nil {
		fail("NewConsumerGroup: %v", err)
	}
	h := &handler{phase: phase, want: want, positions: map[int32]int64{}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{args.Topic}, h); err != nil {
				errs <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
	case err := <-errs:
		fail("Consume: %v", err)
	case err := <-group.Errors():
		fail("group: %v", err)
	case <-time.After(15 * time.Second):
	}
	cancel()
	// Closing the group commits the marked offsets and leaves.
	if err := group.Close(); err != nil {
		fail("Close: %v", err)
	}
	return h.positions
}

func groupResume() {
	half := args.Records / 2
	produce(0, half)
	positions := groupRead("a", half)
	for p, o := range positions {
		emit(map[string]interface{}{"ev": "committed", "phase": "a", "partition": p, "offset": o})
	}
	// Read back before the second member marks (and so commits) anything.
	fetchedCommits(positions)
	produce(half, args.Records)
	groupRead("b", args.Records-half)
}

func fetchedCommits(positions map[int32]int64) {
	admin := clusterAdmin()
	defer admin.Close()
	partitions := []int32{}
	for p := range positions {
		partitions = append(partitions, p)
	}
	response, err := admin.ListConsumerGroupOffsets(args.Group, map[string][]int32{args.Topic: partitions})
	if err != nil {
		fail("ListConsumerGroupOffsets: %v", err)
	}
	for p, block := range response.Blocks[args.Topic] {
		emit(map[string]interface{}{"ev": "fetched_commit", "partition": p, "offset": block.Offset})
	}
}

func clusterAdmin() sarama.ClusterAdmin {
	admin, err := sarama.NewClusterAdmin([]string{args.Bootstrap}, config())
	if err != nil {
		fail("NewClusterAdmin: %v", err)
	}
	return admin
}

func groupAdmin() {
	produce(0, args.Records)
	groupRead("", args.Records)
	admin := clusterAdmin()
	defer admin.Close()
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		fail("ListConsumerGroups: %v", err)
	}
	_, listed := groups[args.Group]
	fact("listed", listed)
	descriptions, err := admin.DescribeConsumerGroups([]string{args.Group})
	if err != nil {
		fail("DescribeConsumerGroups: %v", err)
	}
	fact("state", descriptions[0].State)
	response, err := admin.ListConsumerGroupOffsets(args.Group, map[string][]int32{args.Topic: {0, 1, 2}})
	if err != nil {
		fail("ListConsumerGroupOffsets: %v", err)
	}
	var committed int64
	for _, block := range response.Blocks[args.Topic] {
		if block.Offset > 0 {
			committed += block.Offset
		}
	}
	fact("committed", committed)
	// Sarama 1.22's ClusterAdmin has no DeleteConsumerGroup.
}

func admin() {
	admin := clusterAdmin()
	defer admin.Close()
	retention := "3600000"
	detail := &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}}
	if err := admin.CreateTopic(args.Topic, detail, false); err != nil {
		fail("CreateTopic: %v", err)
	}
	fact("created", true)
	partitions := func() int {
		metadata, err := admin.DescribeTopics([]string{args.Topic})
		if err != nil {
			fail("DescribeTopics: %v", err)
		}
		return len(metadata[0].Partitions)
	}
	fact("partitions", partitions())
	// Sarama sends CreatePartitions only to Kafka 1.0 and later.
	if config().Version.IsAtLeast(sarama.V1_0_0_0) {
		if err := admin.CreatePartitions(args.Topic, 4, nil, false); err != nil {
			fail("CreatePartitions: %v", err)
		}
		fact("grown_partitions", partitions())
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: args.Topic})
	if err != nil {
		fail("DescribeConfig: %v", err)
	}
	for _, entry := range entries {
		if entry.Name == "retention.ms" {
			fact("retention_ms", entry.Value)
		}
	}
	if err := admin.DeleteTopic(args.Topic); err != nil {
		fail("DeleteTopic: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	topics, err := admin.ListTopics()
	if err != nil {
		fail("ListTopics: %v", err)
	}
	_, exists := topics[args.Topic]
	fact("deleted", !exists)
}

func main() {
	flag.Parse()
	if err := json.Unmarshal([]byte(flag.Arg(flag.NArg()-1)), &args); err != nil {
		fail("arguments: %v", err)
	}
	switch args.Scenario {
	case "produce_consume", "gzip", "snappy", "lz4", "zstd":
		produceConsume()
	case "group_resume":
		groupResume()
	case "group_admin":
		groupAdmin()
	case "admin":
		admin()
	default:
		fail("unknown scenario %s", args.Scenario)
	}
}
