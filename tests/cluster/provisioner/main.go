// The test cluster's dynamic volume provisioner: the part a cloud's storage driver plays, so a
// PersistentVolumeClaim of the default StorageClass binds as it would on a real cluster
// (WaitForFirstConsumer, a PV created for the claim, deleted with it). Each volume is a
// directory on the single node, handed to the pod as a hostPath PersistentVolume pinned to
// the node the scheduler chose.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v13/controller"
)

type hostDirs struct {
	root string // every volume is a directory directly below it
}

func (h hostDirs) dir(pvName string) (string, error) {
	if pvName == "" || strings.ContainsAny(pvName, "/\\") || pvName == "." || pvName == ".." {
		return "", fmt.Errorf("volume name %q cannot name a directory", pvName)
	}
	return filepath.Join(h.root, pvName), nil
}

func (h hostDirs) Provision(_ context.Context, opts controller.ProvisionOptions) (*v1.PersistentVolume, controller.ProvisioningState, error) {
	if opts.PVC.Spec.Selector != nil {
		return nil, controller.ProvisioningFinished, errors.New("claims with a selector are not supported")
	}
	if opts.SelectedNodeName == "" {
		// The class binds at first consumer, so a claim gets here only with the pod's node.
		return nil, controller.ProvisioningFinished, errors.New("no node selected: the StorageClass must bind WaitForFirstConsumer")
	}
	path, err := h.dir(opts.PVName)
	if err != nil {
		return nil, controller.ProvisioningFinished, err
	}
	if err := os.Mkdir(path, 0o777); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, controller.ProvisioningInBackground, err
	}
	// A hostPath volume ignores the pod's fsGroup, so the directory is open to every uid
	// where a cloud disk would be chowned to the fsGroup by the kubelet.
	if err := os.Chmod(path, 0o777); err != nil {
		return nil, controller.ProvisioningInBackground, err
	}
	directory := v1.HostPathDirectory
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: opts.PVName},
		Spec: v1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: *opts.StorageClass.ReclaimPolicy,
			AccessModes:                   opts.PVC.Spec.AccessModes,
			Capacity:                      v1.ResourceList{v1.ResourceStorage: opts.PVC.Spec.Resources.Requests[v1.ResourceStorage]},
			PersistentVolumeSource: v1.PersistentVolumeSource{
				HostPath: &v1.HostPathVolumeSource{Path: path, Type: &directory},
			},
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{opts.SelectedNodeName},
				}},
			}}}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

func (h hostDirs) Delete(_ context.Context, pv *v1.PersistentVolume) error {
	path, err := h.dir(pv.Name)
	if err != nil {
		return err
	}
	if pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != path {
		return &controller.IgnoredError{Reason: "the volume is not a directory this provisioner made"}
	}
	return os.RemoveAll(path)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	name := flag.String("name", "", "provisioner name, as the StorageClass's provisioner field")
	root := flag.String("root", "", "directory that holds the volumes")
	metrics := flag.String("metrics-address", "", "host:port of the metrics endpoint, which answers once the controller runs")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *name == "" || *root == "" || *metrics == "" {
		klog.Exit("--kubeconfig, --name, --root and --metrics-address are required")
	}
	host, portText, err := net.SplitHostPort(*metrics)
	if err != nil {
		klog.Exitf("--metrics-address %q: %v", *metrics, err)
	}
	port, err := strconv.ParseInt(portText, 10, 32)
	if err != nil || port <= 0 {
		klog.Exitf("--metrics-address %q: the port must be a positive number", *metrics)
	}
	if err := os.MkdirAll(*root, 0o755); err != nil {
		klog.Exitf("cannot create %s: %v", *root, err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.Exitf("cannot read %s: %v", *kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		klog.Exitf("cannot build a client: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// One node and one provisioner process: no leader to elect.
	pc := controller.NewProvisionController(ctx, client, *name, hostDirs{root: *root}, controller.LeaderElection(false),
		controller.MetricsAddress(host), controller.MetricsPort(int32(port)))
	pc.Run(ctx)
}
