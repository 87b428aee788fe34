//go:build !linux

package main

func allowedCPUs() []int { return []int{0} }

func onCPU(cpu int, f func()) { f() }

func steerable() error { return nil }
