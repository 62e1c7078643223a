// segmentio/kafka-go 0.2 (Debian's golang-github-segmentio-kafka-go-dev),
// used as its documentation shows: a Writer with the Hash balancer and a
// compression codec, a Reader per partition, a Reader with GroupID using
// FetchMessage + CommitMessages, and Conn.CreateTopics / ReadPartitions /
// DeleteTopics. kafka-go 0.2 speaks message format v0/v1: no headers, no
// zstd, and its Writer reports no offsets. Reports JSON lines; run.py checks.
//
// Built by run.py in GOPATH mode from Debian's sources:
// GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/gzip"
	"github.com/segmentio/kafka-go/lz4"
	"github.com/segmentio/kafka-go/snappy"
)

type scenarioArgs struct {
	Scenario  string `json:"scenario"`
	Bootstrap string `json:"bootstrap"`
	Topic     string `json:"topic"`
	Group     string `json:"group"`
	Records   int    `json:"records"`
}

var args scenarioArgs

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

func timeout(seconds int) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
}

func produce(from, to int) {
	config := kafka.WriterConfig{Brokers: []string{args.Bootstrap}, Topic: args.Topic,
		Balancer: &kafka.Hash{}, BatchSize: 8, BatchTimeout: 10 * time.Millisecond,
		ReadTimeout: 8 * time.Second, WriteTimeout: 8 * time.Second, MaxAttempts: 2}
	switch args.Scenario {
	case "gzip":
		config.CompressionCodec = gzip.NewCompressionCodec()
	case "snappy":
		config.CompressionCodec = snappy.NewCompressionCodec()
	case "lz4":
		config.CompressionCodec = lz4.NewCompressionCodec()
	}
	writer := kafka.NewWriter(config)
	defer writer.Close()
	messages := []kafka.Message{}
	for i := from; i < to; i++ {
		messages = append(messages, kafka.Message{Key: []byte(fmt.Sprintf("key-%d", i%4)),
			Value: []byte(fmt.Sprintf("%s:%d", args.Topic, i))})
	}
	ctx, cancel := timeout(15)
	defer cancel()
	if err := writer.WriteMessages(ctx, messages...); err != nil {
		fail("WriteMessages: %v", err)
	}
	for _, m := range messages {
		// The Writer reports no partition or offset.
		emit(map[string]interface{}{"ev": "produced", "partition": nil, "offset": nil, "key": string(m.Key), "value": string(m.Value)})
	}
}

var reportLock sync.Mutex

func report(m kafka.Message, phase interface{}) {
	reportLock.Lock()
	defer reportLock.Unlock()
	emit(map[string]interface{}{"ev": "consumed", "phase": phase, "partition": m.Partition,
		"offset": m.Offset, "key": string(m.Key), "value": string(m.Value), "headers": [][]string{}})
}

func partitions() []kafka.Partition {
	conn, err := kafka.Dial("tcp", args.Bootstrap)
	if err != nil {
		fail("Dial: %v", err)
	}
	defer conn.Close()
	found, err := conn.ReadPartitions(args.Topic)
	if err != nil {
		fail("ReadPartitions: %v", err)
	}
	return found
}

func produceConsume() {
	produce(0, args.Records)
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := 0
	ctx, cancel := timeout(15)
	defer cancel()
	for _, p := range partitions() {
		reader := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{args.Bootstrap}, Topic: args.Topic,
			Partition: p.ID, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
		wg.Add(1)
		go func(reader *kafka.Reader) {
			defer wg.Done()
			defer reader.Close()
			for {
				m, err := reader.ReadMessage(ctx)
				if err != nil {
					return
				}
				report(m, nil)
				mu.Lock()
				got++
				if got == args.Records {
					cancel()
				}
				mu.Unlock()
			}
		}(reader)
	}
	wg.Wait()
}

func groupRead(phase string, want int) map[int]int64 {
	reader := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{args.Bootstrap}, GroupID: args.Group,
		Topic: args.Topic, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second})
	defer reader.Close()
	ctx, cancel := timeout(15)
	defer cancel()
	positions := map[int]int64{}
	for got := 0; got < want; got++ {
		m, err := reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fail("FetchMessage: %v", err)
		}
		report(m, phase)
		if err := reader.CommitMessages(ctx, m); err != nil {
			fail("CommitMessages: %v", err)
		}
		positions[m.Partition] = m.Offset + 1
	}
	return positions
}

func groupResume() {
	half := args.Records / 2
	produce(0, half)
	for p, o := range groupRead("a", half) {
		emit(map[string]interface{}{"ev": "committed", "phase": "a", "partition": p, "offset": o})
	}
	produce(half, args.Records)
	groupRead("b", args.Records-half)
}

func admin() {
	conn, err := kafka.Dial("tcp", args.Bootstrap)
	if err != nil {
		fail("Dial: %v", err)
	}
	defer conn.Close()
	err = conn.CreateTopics(kafka.TopicConfig{Topic: args.Topic, NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}}})
	if err != nil {
		fail("CreateTopics: %v", err)
	}
	fact("created", true)
	fact("partitions", len(partitions()))
	if err := conn.DeleteTopics(args.Topic); err != nil {
		fail("DeleteTopics: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	// All topics: naming the deleted one would auto-create it again (Metadata v1).
	all, err := conn.ReadPartitions()
	if err != nil {
		fail("ReadPartitions: %v", err)
	}
	exists := false
	for _, p := range all {
		exists = exists || p.Topic == args.Topic
	}
	fact("deleted", !exists)
}

func main() {
	if err := json.Unmarshal([]byte(os.Args[len(os.Args)-1]), &args); err != nil {
		fail("arguments: %v", err)
	}
	switch args.Scenario {
	case "produce_consume", "gzip", "snappy", "lz4":
		produceConsume()
	case "group_resume":
		groupResume()
	case "admin":
		admin()
	default:
		fail("unknown scenario %s", args.Scenario)
	}
}
