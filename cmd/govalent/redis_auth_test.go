package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

// Item 10 of issue 11: the Redis pool works with Redis AUTH (requirepass), with an ACL user limited to the
// govalent keys and channels, and over TLS (rediss://); no password shows in a log or an error.
func TestRedisPoolAuthACLAndTLS(t *testing.T) {
	const password, alicePassword = "S3cretPass", "Al1cePass"
	certFile, keyFile := selfSignedCert(t)
	t.Setenv("SSL_CERT_FILE", certFile) // the dispatcher and workers trust the test's certificate
	tlsPort := freePort(t)
	redis := startRedis(t, "--requirepass", password,
		"--user", "alice", "on", ">"+alicePassword, "~govalent:*", "&govalent:*", "+@all", "-@dangerous",
		"--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-auth-clients", "no")
	for _, c := range []struct{ name, url string }{
		{"requirepass", "redis://:" + password + "@127.0.0.1:" + strconv.Itoa(redis.port) + "/0"},
		{"ACL user", "redis://alice:" + alicePassword + "@127.0.0.1:" + strconv.Itoa(redis.port) + "/0"},
		{"TLS", "rediss://alice:" + alicePassword + "@127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRedisSetupOn(t, redis, c.url, 1)
			id, _ := r.dispatchWork(t, 4, 10)
			res := r.waitFinished(t, id, 60*time.Second)
			if res.Status != ct.StatusCompleted || res.Result != 60 {
				t.Fatalf("%+v", res)
			}
			if log := readFile(filepath.Join(r.dir, "test.log")); strings.Contains(log, password) || strings.Contains(log, alicePassword) {
				t.Fatalf("the dispatcher log shows a password:\n%s", log)
			}
		})
	}
	// A wrong password: the error names the server, not the password.
	out, err := govalent(t, []string{"GOVALENT_REDIS_KEY=0123456789abcdef0123"}, "worker", "--redis", "redis://:WrongPass@127.0.0.1:"+strconv.Itoa(redis.port)+"/0")
	if err == nil || strings.Contains(out, "WrongPass") || !strings.Contains(out, "redis://:xxxxx@127.0.0.1") {
		t.Fatalf("%v: %s", err, out)
	}
	// Without the key, a worker does not start.
	out, err = govalent(t, []string{"GOVALENT_REDIS_KEY_FILE=" + filepath.Join(t.TempDir(), "none")}, "worker", "--redis", redis.url())
	if err == nil || !strings.Contains(out, "no Redis key") {
		t.Fatalf("%v: %s", err, out)
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key; the certificate is its own root.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "govalent test Redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames: []string{"localhost"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
