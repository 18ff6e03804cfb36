// Command kubecheck validates rendered Kubernetes manifests (the output of `helm template`) without a cluster.
//
// Three layers, all from Go modules that bundle the Kubernetes API (nothing is downloaded at run time):
//  1. strict decoding into the k8s.io/api types of client-go's scheme: an unknown kind, an unknown or duplicated
//     field, or a value of the wrong type is an error;
//  2. the structured schema of every built-in type that client-go carries for server-side apply (the same
//     OpenAPI-derived schema the API server uses to check field names and types);
//  3. the API server's cross-field rules that matter for this chart, re-implemented on the typed objects: names and
//     labels, selectors that match their pod templates, named ports that exist, env and volume references,
//     requests under limits, HPA and PDB targets that exist in the same render, probes, Job restart policies.
//
// Usage: kubecheck [file ...] (stdin when none). Prints one line per problem and exits 1 when there is one.
// Not for: admission policies, CRDs, or anything that needs the cluster's state.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest with where it came from.
type object struct {
	source string
	id     string // Kind/name
	obj    runtime.Object
}

type checker struct {
	problems []string
}

func (c *checker) addf(id, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("%s: %s", id, fmt.Sprintf(format, args...)))
}

func main() {
	files := os.Args[1:]
	var docs []document
	if len(files) == 0 {
		d, err := splitDocuments("<stdin>", os.Stdin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubecheck:", err)
			os.Exit(2)
		}
		docs = d
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubecheck:", err)
			os.Exit(2)
		}
		d, err := splitDocuments(f, fh)
		fh.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "kubecheck:", err)
			os.Exit(2)
		}
		docs = append(docs, d...)
	}
	c := &checker{}
	objects := c.decodeAll(docs)
	c.crossChecks(objects)
	for _, p := range c.problems {
		fmt.Println(p)
	}
	fmt.Printf("kubecheck: %d objects, %d problems\n", len(objects), len(c.problems))
	if len(c.problems) > 0 || len(objects) == 0 {
		if len(objects) == 0 {
			fmt.Println("kubecheck: no objects to check")
		}
		os.Exit(1)
	}
}

type document struct {
	source string
	index  int
	data   []byte
}

// splitDocuments cuts a YAML stream at its `---` separators and drops empty documents (comments only).
func splitDocuments(source string, r io.Reader) ([]document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var out []document
	for i := 0; ; i++ {
		data, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(bytes.TrimSpace(stripComments(data))) == 0 {
			continue
		}
		out = append(out, document{source: source, index: i, data: data})
	}
}

func stripComments(data []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (c *checker) decodeAll(docs []document) []object {
	strict := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	converter := applyconfigurations.NewTypeConverter(scheme.Scheme)
	var out []object
	for _, d := range docs {
		where := fmt.Sprintf("%s#%d", d.source, d.index)
		js, err := yaml.YAMLToJSONStrict(d.data)
		if err != nil {
			c.addf(where, "not valid YAML: %v", err)
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			c.addf(where, "not a Kubernetes object: %v", err)
			continue
		}
		id := fmt.Sprintf("%s/%s", u.GetKind(), u.GetName())
		if !scheme.Scheme.Recognizes(u.GroupVersionKind()) {
			c.addf(id, "unknown kind %s (not a built-in API type of Kubernetes %s)", u.GroupVersionKind(), "v1.37")
			continue
		}
		obj, _, err := strict.Decode(js, nil, nil)
		if err != nil {
			c.addf(id, "does not decode strictly into %s: %v", u.GroupVersionKind(), err)
			continue
		}
		// Reported, and the cross-field checks still run on the decoded object.
		if _, err := converter.ObjectToTyped(u); err != nil {
			c.addf(id, "does not match the API schema: %v", err)
		}
		c.checkMeta(id, u)
		out = append(out, object{source: where, id: id, obj: obj})
	}
	return out
}

func (c *checker) checkMeta(id string, u *unstructured.Unstructured) {
	name := u.GetName()
	if name == "" {
		c.addf(id, "metadata.name is empty")
	} else if u.GetKind() == "Service" {
		for _, e := range validation.IsDNS1035Label(name) {
			c.addf(id, "metadata.name %q: %s", name, e)
		}
	} else {
		for _, e := range validation.IsDNS1123Subdomain(name) {
			c.addf(id, "metadata.name %q: %s", name, e)
		}
	}
	for k, v := range u.GetLabels() {
		for _, e := range validation.IsQualifiedName(k) {
			c.addf(id, "label key %q: %s", k, e)
		}
		for _, e := range validation.IsValidLabelValue(v) {
			c.addf(id, "label %s value %q: %s", k, v, e)
		}
	}
	for k := range u.GetAnnotations() {
		for _, e := range validation.IsQualifiedName(strings.ToLower(k)) {
			c.addf(id, "annotation key %q: %s", k, e)
		}
	}
}

// workload is anything with a pod template.
type workload struct {
	id       string
	kind     string
	name     string
	selector *metav1.LabelSelector
	template *corev1.PodTemplateSpec
}

func (c *checker) crossChecks(objects []object) {
	var workloads []workload
	services := map[string]*corev1.Service{}
	byKindName := map[string]bool{}
	for _, o := range objects {
		byKindName[o.id] = true
		switch t := o.obj.(type) {
		case *appsv1.Deployment:
			workloads = append(workloads, workload{o.id, "Deployment", t.Name, t.Spec.Selector, &t.Spec.Template})
			if t.Spec.Replicas != nil && *t.Spec.Replicas < 0 {
				c.addf(o.id, "spec.replicas is negative")
			}
		case *appsv1.StatefulSet:
			workloads = append(workloads, workload{o.id, "StatefulSet", t.Name, t.Spec.Selector, &t.Spec.Template})
		case *appsv1.DaemonSet:
			workloads = append(workloads, workload{o.id, "DaemonSet", t.Name, t.Spec.Selector, &t.Spec.Template})
		case *batchv1.Job:
			workloads = append(workloads, workload{o.id, "Job", t.Name, nil, &t.Spec.Template})
		case *batchv1.CronJob:
			workloads = append(workloads, workload{o.id, "CronJob", t.Name, nil, &t.Spec.JobTemplate.Spec.Template})
		case *corev1.Service:
			services[t.Name] = t
		}
	}
	for _, w := range workloads {
		c.checkWorkload(w)
	}
	for _, o := range objects {
		switch t := o.obj.(type) {
		case *appsv1.StatefulSet:
			svc, ok := services[t.Spec.ServiceName]
			if !ok {
				c.addf(o.id, "spec.serviceName %q names no Service in this render", t.Spec.ServiceName)
			} else if svc.Spec.ClusterIP != corev1.ClusterIPNone {
				c.addf(o.id, "spec.serviceName %q is not a headless Service (clusterIP: None)", t.Spec.ServiceName)
			}
		case *corev1.Service:
			c.checkService(o.id, t, workloads)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.checkHPA(o.id, t, workloads)
		case *policyv1.PodDisruptionBudget:
			c.checkPDB(o.id, t, workloads)
		}
	}
}

func (c *checker) checkWorkload(w workload) {
	tpl := w.template
	if w.selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil {
			c.addf(w.id, "spec.selector: %v", err)
		} else if sel.Empty() {
			c.addf(w.id, "spec.selector is empty")
		} else if !sel.Matches(labels.Set(tpl.Labels)) {
			c.addf(w.id, "spec.selector does not match the pod template's labels")
		}
	}
	spec := &tpl.Spec
	if w.kind == "Job" || w.kind == "CronJob" {
		if spec.RestartPolicy != corev1.RestartPolicyNever && spec.RestartPolicy != corev1.RestartPolicyOnFailure {
			c.addf(w.id, "a Job's restartPolicy must be Never or OnFailure, got %q", spec.RestartPolicy)
		}
	} else if spec.RestartPolicy != "" && spec.RestartPolicy != corev1.RestartPolicyAlways {
		c.addf(w.id, "restartPolicy must be Always, got %q", spec.RestartPolicy)
	}
	if len(spec.Containers) == 0 {
		c.addf(w.id, "the pod template has no containers")
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		if volumes[v.Name] {
			c.addf(w.id, "volume %q declared twice", v.Name)
		}
		volumes[v.Name] = true
		for _, e := range validation.IsDNS1123Label(v.Name) {
			c.addf(w.id, "volume name %q: %s", v.Name, e)
		}
	}
	names := map[string]bool{}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	grace := int64(30)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	for _, ct := range all {
		cid := fmt.Sprintf("%s container %q", w.id, ct.Name)
		if names[ct.Name] {
			c.addf(w.id, "container name %q used twice", ct.Name)
		}
		names[ct.Name] = true
		for _, e := range validation.IsDNS1123Label(ct.Name) {
			c.addf(cid, "name: %s", e)
		}
		if strings.TrimSpace(ct.Image) == "" {
			c.addf(cid, "no image")
		}
		c.checkContainer(cid, &ct, volumes, grace)
	}
}

func (c *checker) checkContainer(cid string, ct *corev1.Container, volumes map[string]bool, grace int64) {
	ports := map[string]int32{}
	for _, p := range ct.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			c.addf(cid, "containerPort %d out of range", p.ContainerPort)
		}
		if p.Name != "" {
			for _, e := range validation.IsValidPortName(p.Name) {
				c.addf(cid, "port name %q: %s", p.Name, e)
			}
			if _, dup := ports[p.Name]; dup {
				c.addf(cid, "port name %q used twice", p.Name)
			}
			ports[p.Name] = p.ContainerPort
		}
	}
	for what, probe := range map[string]*corev1.Probe{"liveness": ct.LivenessProbe, "readiness": ct.ReadinessProbe, "startup": ct.StartupProbe} {
		if probe == nil {
			continue
		}
		if probe.HTTPGet != nil {
			c.checkPortRef(cid, what+"Probe.httpGet.port", probe.HTTPGet.Port, ports)
			if !strings.HasPrefix(probe.HTTPGet.Path, "/") {
				c.addf(cid, "%sProbe.httpGet.path %q must start with /", what, probe.HTTPGet.Path)
			}
		}
		if probe.TCPSocket != nil {
			c.checkPortRef(cid, what+"Probe.tcpSocket.port", probe.TCPSocket.Port, ports)
		}
		if probe.HTTPGet == nil && probe.TCPSocket == nil && probe.Exec == nil && probe.GRPC == nil {
			c.addf(cid, "%sProbe has no handler", what)
		}
	}
	envNames := map[string]bool{}
	for _, e := range ct.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			c.addf(cid, "env name %q: %s", e.Name, msg)
		}
		if envNames[e.Name] {
			c.addf(cid, "env %s set twice", e.Name)
		}
		envNames[e.Name] = true
		if e.ValueFrom != nil {
			if e.Value != "" {
				c.addf(cid, "env %s has both value and valueFrom", e.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil && (r.Name == "" || r.Key == "") {
				c.addf(cid, "env %s: secretKeyRef needs a name and a key", e.Name)
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil && (r.Name == "" || r.Key == "") {
				c.addf(cid, "env %s: configMapKeyRef needs a name and a key", e.Name)
			}
		}
	}
	mounts := map[string]bool{}
	for _, m := range ct.VolumeMounts {
		if !volumes[m.Name] {
			c.addf(cid, "volumeMount %q names no volume of the pod", m.Name)
		}
		if mounts[m.MountPath] {
			c.addf(cid, "mountPath %s used twice", m.MountPath)
		}
		mounts[m.MountPath] = true
	}
	for res, limit := range ct.Resources.Limits {
		if req, ok := ct.Resources.Requests[res]; ok && req.Cmp(limit) > 0 {
			c.addf(cid, "resources.requests.%s %s is above its limit %s", res, req.String(), limit.String())
		}
	}
	if ct.Lifecycle != nil && ct.Lifecycle.PreStop != nil && ct.Lifecycle.PreStop.Sleep != nil {
		if s := ct.Lifecycle.PreStop.Sleep.Seconds; s >= grace {
			c.addf(cid, "preStop sleeps %d s, not less than terminationGracePeriodSeconds %d", s, grace)
		}
	}
}

func (c *checker) checkPortRef(cid, field string, port intstr.IntOrString, ports map[string]int32) {
	if port.Type == intstr.String {
		if _, ok := ports[port.StrVal]; !ok {
			c.addf(cid, "%s names port %q, which the container does not declare", field, port.StrVal)
		}
	} else if port.IntVal < 1 || port.IntVal > 65535 {
		c.addf(cid, "%s %d out of range", field, port.IntVal)
	}
}

func (c *checker) checkService(id string, svc *corev1.Service, workloads []workload) {
	if len(svc.Spec.Selector) == 0 {
		return
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var matched []workload
	for _, w := range workloads {
		if w.kind != "Job" && w.kind != "CronJob" && sel.Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		c.addf(id, "spec.selector matches no pod template in this render")
		return
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.Type != intstr.String {
			continue
		}
		for _, w := range matched {
			found := false
			for _, ct := range w.template.Spec.Containers {
				for _, cp := range ct.Ports {
					if cp.Name == p.TargetPort.StrVal {
						found = true
					}
				}
			}
			if !found {
				c.addf(id, "targetPort %q is not a named port of %s", p.TargetPort.StrVal, w.id)
			}
		}
	}
}

func (c *checker) checkHPA(id string, h *autoscalingv2.HorizontalPodAutoscaler, workloads []workload) {
	if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		c.addf(id, "minReplicas %d is above maxReplicas %d", *h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if h.Spec.MaxReplicas < 1 {
		c.addf(id, "maxReplicas must be at least 1")
	}
	ref := h.Spec.ScaleTargetRef
	var target *workload
	for i := range workloads {
		if workloads[i].kind == ref.Kind && workloads[i].name == ref.Name {
			target = &workloads[i]
		}
	}
	if target == nil {
		c.addf(id, "scaleTargetRef %s/%s is not in this render", ref.Kind, ref.Name)
		return
	}
	if len(h.Spec.Metrics) == 0 {
		c.addf(id, "no metrics")
	}
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil {
			continue
		}
		if m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			for _, ct := range target.template.Spec.Containers {
				if _, ok := ct.Resources.Requests[m.Resource.Name]; !ok {
					c.addf(id, "scales on %s utilization but container %q of %s has no %s request", m.Resource.Name, ct.Name, target.id, m.Resource.Name)
				}
			}
		}
	}
}

func (c *checker) checkPDB(id string, p *policyv1.PodDisruptionBudget, workloads []workload) {
	if p.Spec.Selector == nil {
		c.addf(id, "spec.selector is missing")
		return
	}
	if p.Spec.MinAvailable != nil && p.Spec.MaxUnavailable != nil {
		c.addf(id, "minAvailable and maxUnavailable are mutually exclusive")
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
	if err != nil {
		c.addf(id, "spec.selector: %v", err)
		return
	}
	var matched []string
	for _, w := range workloads {
		if w.kind != "Job" && w.kind != "CronJob" && sel.Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w.id)
		}
	}
	sort.Strings(matched)
	if len(matched) == 0 {
		c.addf(id, "spec.selector matches no pod template in this render")
	}
}
