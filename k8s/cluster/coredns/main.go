// CoreDNS with only the plugins the local cluster's Corefile uses. The stock binary
// (github.com/coredns/coredns) links every plugin, cloud SDKs included; importing just these
// keeps the build small. There is deliberately no `forward` plugin: names outside the cluster
// domain get REFUSED instead of being sent to an upstream resolver off this machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins' order in a server block comes from dnsserver.Directives; keep the stock order.
var _ = dnsserver.Directives

func main() { coremain.Run() }
