// Package grpcecho defines smp's gRPC echo service, smp.echo.v1.Echo, without
// protoc-generated code: its one unary method, Echo, takes and returns a
// google.protobuf.BytesValue, so the well-known wrapper types are its whole
// schema. The engine calls it; the built-in sample app serves it with Server.
//
// The .proto it corresponds to, for other languages:
//
//	syntax = "proto3";
//	package smp.echo.v1;
//	import "google/protobuf/wrappers.proto";
//	service Echo {
//	  rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue);
//	}
//
// Imports: google.golang.org/grpc and google.golang.org/protobuf only; no
// package of this module.
package grpcecho
