package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DefaultPartSize is the size of the parts of a multipart upload; a blob no larger goes in one PutObject.
const DefaultPartSize = 16 << 20

// minPartSize is S3's smallest part (all but the last).
const minPartSize = 5 << 20

// S3 is a Store under s3://bucket/prefix.
type S3 struct {
	Client   *s3.Client
	Bucket   string
	Prefix   string
	PartSize int64 // DefaultPartSize when 0; at least 5 MiB
}

// LoadAWS loads the AWS configuration the standard way (environment, shared config and profile, SSO, instance
// or task role). The region falls back to us-east-1, which S3 signs with whatever the bucket's region.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// NewS3Client builds an S3 client from cfg. With a custom endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL:
// MinIO, LocalStack, a test server) it addresses buckets by path, since such servers rarely have per-bucket
// host names. The SDK's default CRC checksums are asked for only where S3 requires them: several S3-protocol
// servers reject them, and the result manager checks its own SHA-256 digests anyway.
func NewS3Client(cfg aws.Config) *s3.Client {
	pathStyle := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = pathStyle
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// ParseS3URL splits s3://bucket/key.
func ParseS3URL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL", u)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", u)
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." {
			return "", "", fmt.Errorf("%q: key has \"..\" (path traversal)", u)
		}
	}
	return bucket, key, nil
}

// NewS3 opens the store at s3://bucket/prefix with the standard AWS configuration.
func NewS3(ctx context.Context, url string) (*S3, error) {
	bucket, prefix, err := ParseS3URL(url)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return &S3{Client: NewS3Client(cfg), Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
}

// Check asks S3 for the bucket, so that a wrong name or missing permissions show when a store is opened rather
// than at the first large value.
func (s *S3) Check(ctx context.Context) error {
	if _, err := s.Client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.Bucket}); err != nil {
		return fmt.Errorf("object store %s: the bucket cannot be reached (it must exist, and s3:ListBucket be allowed): %w", s, err)
	}
	return nil
}

func (s *S3) key(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return path.Join(s.Prefix, name), nil
}

func (s *S3) String() string { return "s3://" + path.Join(s.Bucket, s.Prefix) }

// URL is the s3:// address of name.
func (s *S3) URL(name string) string { return "s3://" + s.Bucket + "/" + path.Join(s.Prefix, name) }

// Put uploads r: in one request if it fits in a part, else as a multipart upload, so that memory stays bounded
// by one part whatever the blob's size.
func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	partSize := s.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	partSize = max(partSize, minPartSize)
	var part bytes.Buffer // grows to the blob's size, or to one part
	if _, err := io.CopyN(&part, r, partSize); err == io.EOF {
		_, err = s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key,
			Body: bytes.NewReader(part.Bytes()), ContentLength: aws.Int64(int64(part.Len()))})
		return s.wrap("writing", key, err)
	} else if err != nil {
		return err
	}
	return s.multipart(ctx, key, &part, partSize, r)
}

// multipart uploads part (full) and the rest of r; a failed upload is aborted so that no parts linger.
func (s *S3) multipart(ctx context.Context, key string, part *bytes.Buffer, partSize int64, r io.Reader) error {
	up, err := s.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		return s.wrap("starting upload of", key, err)
	}
	var parts []types.CompletedPart
	for num := int32(1); err == nil && part.Len() > 0; num++ {
		var out *s3.UploadPartOutput
		out, err = s.Client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.Bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(part.Bytes()), ContentLength: aws.Int64(int64(part.Len()))})
		if err != nil {
			break
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		part.Reset()
		if _, err = io.CopyN(part, r, partSize); err == io.EOF {
			err = nil
		}
	}
	if err == nil {
		_, err = s.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.Bucket, Key: &key,
			UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}
	if err != nil {
		s.Client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.Bucket, Key: &key, UploadId: up.UploadId})
		return s.wrap("uploading", key, err)
	}
	return nil
}

// Get streams the object's body.
func (s *S3) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		return nil, s.wrap("reading", key, err)
	}
	return out.Body, nil
}

// List lists the objects directly under the prefix (ListObjectsV2 with a delimiter).
func (s *S3) List(ctx context.Context, fn func(name string, modified time.Time) error) error {
	prefix := s.Prefix
	if prefix != "" {
		prefix += "/"
	}
	pages := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: &s.Bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.wrap("listing", prefix, err)
		}
		for _, o := range page.Contents {
			if o.Key == nil || o.LastModified == nil {
				continue
			}
			if err := fn(strings.TrimPrefix(*o.Key, prefix), *o.LastModified); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the object (S3 answers a delete of a missing object with success).
func (s *S3) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if _, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: &key}); err != nil {
		return s.wrap("deleting", key, err)
	}
	return nil
}

// Exists asks for the object's head.
func (s *S3) Exists(ctx context.Context, name string) (bool, error) {
	key, err := s.key(name)
	if err != nil {
		return false, err
	}
	_, err = s.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if err = s.wrap("checking", key, err); errors.Is(err, ErrMissing) {
		return false, nil
	}
	return false, err
}

// wrap names the object in an SDK error and marks "not found" answers as ErrMissing.
func (s *S3) wrap(verb, key string, err error) error {
	if err == nil {
		return nil
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == 404 {
		return fmt.Errorf("%w: s3://%s/%s: %v", ErrMissing, s.Bucket, key, err)
	}
	return fmt.Errorf("%s s3://%s/%s: %w", verb, s.Bucket, key, err)
}
