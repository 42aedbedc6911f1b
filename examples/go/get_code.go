// Command get_code asks mfa-worker for a TOTP code over AMQP, with
// amqp091-go and nothing but the protocol (docs/protocol.md).
//
//	export MFA_BROKER_URL=amqp://rpa-bot-eu-1:PASSWORD@127.0.0.1:5672/%2F
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/mfa-example-go examples/go/get_code.go
//	/tmp/mfa-example-go --account sf-automation-eu
//
// (Build, then run: `go run` turns every exit status into 1.)
//
// Prints the code alone (or the whole reply with --json). Every failure is
// one line on stderr, with an exit status: 0 ok, 2 forbidden, 3 bad_request,
// 4 rate_limited, 5 unavailable, 6 internal, 7 timeout or no worker
// consuming the request queue, 9 busy, 1 anything else (connection refused,
// login refused, no request queue, ...).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

var exitCodes = map[string]int{"forbidden": 2, "bad_request": 3, "rate_limited": 4, "unavailable": 5, "internal": 6, "busy": 9}

const (
	exitTimeout = 7
	exitOther   = 1
)

// failure is one line for a person and the exit status that goes with it.
type failure struct {
	message string
	status  int
}

func (f failure) Error() string { return f.message }

func fail(status int, format string, arguments ...any) failure {
	return failure{fmt.Sprintf(format, arguments...), status}
}

// endpoint is HOST:PORT of a broker URL, for messages (never the password).
func endpoint(uri amqp.URI) string {
	return net.JoinHostPort(uri.Host, fmt.Sprint(uri.Port))
}

func connect(brokerURL string) (*amqp.Connection, string, error) {
	uri, err := amqp.ParseURI(brokerURL)
	if err != nil {
		return nil, "", fail(exitOther, "MFA_BROKER_URL is not a broker URL (amqp://USER:PASSWORD@HOST:5672/%%2F)")
	}
	connection, err := amqp.DialConfig(brokerURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	switch {
	case err == nil:
		return connection, uri.Username, nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, "", fail(exitOther, "connection refused: is RabbitMQ running on %s?", endpoint(uri))
	case errors.Is(err, amqp.ErrCredentials):
		return nil, "", fail(exitOther, "login refused for user '%s': check the password in MFA_BROKER_URL", uri.Username)
	case errors.Is(err, amqp.ErrVhost):
		return nil, "", fail(exitOther, "login refused for user '%s': no access to the vhost in MFA_BROKER_URL", uri.Username)
	default:
		var amqpError *amqp.Error
		if errors.As(err, &amqpError) && amqpError.Code == amqp.AccessRefused {
			return nil, "", fail(exitOther, "login refused for user '%s': check the password in MFA_BROKER_URL", uri.Username)
		}
		return nil, "", fail(exitOther, "cannot connect to %s: %v", endpoint(uri), err)
	}
}

// checkRequestQueue fails at once when nobody could answer: a passive
// declare needs no permission on the queue, and tells whether it exists and
// how many consumers (workers) it has.
func checkRequestQueue(channel *amqp.Channel, queue string) error {
	declared, err := channel.QueueDeclarePassive(queue, false, false, false, false, nil)
	var amqpError *amqp.Error
	switch {
	case errors.As(err, &amqpError) && amqpError.Code == amqp.NotFound:
		return fail(exitOther, "the request queue %s does not exist", queue)
	case err != nil:
		return fail(exitOther, "cannot check the request queue %s: %v", queue, err)
	case declared.Consumers == 0:
		return fail(exitTimeout, "no worker is consuming %s", queue)
	}
	return nil
}

type request struct {
	Account       string `json:"account"`
	MinValidityMs *int64 `json:"min_validity_ms,omitempty"`
	MaxWaitMs     int64  `json:"max_wait_ms"`
}

// requestCode returns the worker's reply body, or a failure.
func requestCode(brokerURL, queue, account string, minValidityMs *int64, timeout time.Duration) ([]byte, error) {
	deadline := time.After(timeout)
	connection, user, err := connect(brokerURL)
	if err != nil {
		return nil, err
	}
	defer connection.Close()
	channel, err := connection.Channel()
	if err != nil {
		return nil, fail(exitOther, "cannot open a channel: %v", err)
	}
	if err := checkRequestQueue(channel, queue); err != nil {
		return nil, err
	}
	// Our own reply queue: server-named, exclusive, auto-delete, no DLX.
	replyQueue, err := channel.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		return nil, fail(exitOther, "cannot declare a reply queue: %v", err)
	}
	replies, err := channel.Consume(replyQueue.Name, "", true, true, false, false, nil)
	if err != nil {
		return nil, fail(exitOther, "cannot consume the reply queue: %v", err)
	}
	random := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, random); err != nil {
		return nil, fail(exitOther, "no randomness for a correlation id: %v", err)
	}
	correlationID := hex.EncodeToString(random)
	// Never let the worker hold our turn for a window longer than we wait (a
	// once_per_window account would spend that window on nobody).
	body, _ := json.Marshal(request{Account: account, MinValidityMs: minValidityMs, MaxWaitMs: max64(0, timeout.Milliseconds()-1000)})
	err = channel.Publish("", queue, false, false, amqp.Publishing{
		ReplyTo:       replyQueue.Name,
		CorrelationId: correlationID,
		// The requester is the user we log in as; RabbitMQ refuses any other.
		UserId:      user,
		ContentType: "application/json",
		Type:        "mfa-code-request",
		Expiration:  fmt.Sprint(max64(1, timeout.Milliseconds())),
		Body:        body,
	})
	if err != nil {
		return nil, fail(exitOther, "cannot publish the request: %v", err)
	}
	for {
		select {
		case delivery, open := <-replies:
			if !open {
				return nil, fail(exitOther, "the broker connection failed")
			}
			// Anything that is not the answer to this request is dropped.
			if delivery.CorrelationId == correlationID {
				return delivery.Body, nil
			}
		case <-deadline:
			return nil, fail(exitTimeout, "timeout: no reply within %.1f s", timeout.Seconds())
		}
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

type reply struct {
	Status       string `json:"status"`
	Code         string `json:"code"`
	Error        string `json:"error"`
	Message      string `json:"message"`
	RetryAfterMs *int64 `json:"retry_after_ms"`
}

func run() error {
	flags := flag.NewFlagSet("get_code", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	account := flags.String("account", "", "the account whose code to ask for")
	minValidity := flags.Int64("min-validity-ms", -1, "the code must stay valid this long, or the next window's comes")
	timeoutSeconds := flags.Float64("timeout", 10, "seconds to wait for the reply")
	queue := flags.String("queue", "mfa-code-request", "the worker's request queue")
	printJSON := flags.Bool("json", false, "print the whole reply")
	if err := flags.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Println("usage: get_code --account NAME [--min-validity-ms MS] [--timeout SECONDS] [--queue NAME] [--json]; the broker URL comes from MFA_BROKER_URL")
			return nil
		}
		return fail(exitOther, "usage: %v", err)
	}
	if *account == "" {
		return fail(exitOther, "usage: --account is required")
	}
	if *timeoutSeconds <= 0 || *timeoutSeconds > 3600 {
		return fail(exitOther, "usage: --timeout must be more than 0 and at most 3600 seconds")
	}
	// The broker URL, with the robot's password, comes from the environment
	// only: on the command line, ps would show it.
	brokerURL := os.Getenv("MFA_BROKER_URL")
	if brokerURL == "" {
		return fail(exitOther, "MFA_BROKER_URL is not set (amqp://USER:PASSWORD@HOST:5672/%%2F)")
	}
	var minValidityMs *int64
	if *minValidity >= 0 {
		minValidityMs = minValidity
	}

	body, err := requestCode(brokerURL, *queue, *account, minValidityMs, time.Duration(*timeoutSeconds*float64(time.Second)))
	if err != nil {
		return err
	}
	var answer reply
	if err := json.Unmarshal(body, &answer); err != nil {
		return fail(exitCodes["internal"], "invalid reply: not a JSON object")
	}
	if *printJSON {
		fmt.Println(string(body))
	}
	if answer.Status == "ok" {
		if !*printJSON {
			fmt.Println(answer.Code)
		}
		return nil
	}
	retry := ""
	if answer.RetryAfterMs != nil {
		retry = fmt.Sprintf(" (retry after %d ms)", *answer.RetryAfterMs)
	}
	status, known := exitCodes[answer.Error]
	if !known {
		// An error this program does not know is still an error, with its message.
		status = exitOther
	}
	return fail(status, "%s: %s%s", answer.Error, answer.Message, retry)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		var f failure
		if errors.As(err, &f) {
			os.Exit(f.status)
		}
		os.Exit(exitOther)
	}
}
