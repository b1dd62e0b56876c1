package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sessiond/sessiond/internal/proctest"
)

// The comparison targets run the same workloads through the same driver,
// with the operations perf-anchors §1-2 define:
//
//	redis  validate GET sess:<tok>; login MULTI SET sess:<tok> EX + SADD
//	       user:<u> EXEC; logout GETDEL + SREM; logoutall SMEMBERS + DEL
//	etcd   validate Get /sess/<tok> (serializable or linearizable); login
//	       LeaseGrant + Txn{Put /sess/<tok>, Put /user/<u>/<tok>} on the
//	       lease; logout Delete(prevKV); logoutall Delete(/user/<u>/, prefix)
//
// Neither hashes a password: the sessiond rows to compare them with are
// the ones at minimal hashing.

type redisTarget struct{ c *redis.Client }

func startRedis(ctx context.Context, procs *procSet, bin, root string) (*redisTarget, error) {
	port, err := proctest.Port()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "redis")
	if err := mkdir(dir); err != nil {
		return nil, err
	}
	p, err := procs.start("redis", nil, bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no")
	if err != nil {
		return nil, err
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), PoolSize: 128})
	err = waitFor(ctx, 20*time.Second, "redis", p, func() bool { return c.Ping(ctx).Err() == nil })
	return &redisTarget{c: c}, err
}

func (t *redisTarget) name() string { return "redis-aof-everysec" }

func (t *redisTarget) validate(ctx context.Context, _ int, tok string) error {
	return t.c.Get(ctx, "sess:"+tok).Err()
}

func (t *redisTarget) login(ctx context.Context, _ int, login, _ string) (string, error) {
	tok := tokenFor('r', int(uniq.Add(1)))
	_, err := t.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "sess:"+tok, login, time.Hour)
		p.SAdd(ctx, "user:"+login, tok)
		return nil
	})
	return tok, err
}

func (t *redisTarget) logout(ctx context.Context, _ int, tok string) error {
	u, err := t.c.GetDel(ctx, "sess:"+tok).Result()
	if err != nil {
		return err
	}
	return t.c.SRem(ctx, "user:"+u, tok).Err()
}

func (t *redisTarget) logoutAll(ctx context.Context, _ int, tok string) error {
	u, err := t.c.Get(ctx, "sess:"+tok).Result()
	if err != nil {
		return err
	}
	toks, err := t.c.SMembers(ctx, "user:"+u).Result()
	if err != nil {
		return err
	}
	keys := []string{"user:" + u}
	for _, k := range toks {
		keys = append(keys, "sess:"+k)
	}
	return t.c.Del(ctx, keys...).Err()
}

// redisPlan is the plan Redis is prefilled and measured with: logout
// pools ten times the plan's. At ~40k logouts/s Redis used up a run's
// share of 60,000 during the 1 s warm-up, and its logout and logoutall
// rows read 0 ops/s. A run that drains its share early is still
// measured, over the part of the window it lasted.
func redisPlan(p plan) plan {
	p.LogoutPool *= 10
	p.LogoutAllPool *= 10
	return p
}

// prefill stores the plan's sessions in pipelines of 1000.
func (t *redisTarget) prefill(ctx context.Context, p plan) error {
	put := func(kind byte, n int, user func(i int) string) error {
		for i := 0; i < n; i += 1000 {
			pipe := t.c.Pipeline()
			for j := i; j < min(n, i+1000); j++ {
				tok, u := tokenFor(kind, j), user(j)
				pipe.Set(ctx, "sess:"+tok, u, time.Hour)
				pipe.SAdd(ctx, "user:"+u, tok)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	minUser := func(i int) string { return userLogin(kindMinUser, i%p.MinUsers) }
	if err := put(kindValidate, p.Sessions, minUser); err != nil {
		return err
	}
	if err := put(kindLogout, p.LogoutPool, minUser); err != nil {
		return err
	}
	return put(kindLogoutAll, p.LogoutAllPool, func(i int) string { return userLogin(kindAllUser, i) })
}

// etcdCluster is three etcd members on loopback, as perf-anchors §10.
type etcdCluster struct {
	c            *clientv3.Client
	serializable bool
	procs        []*proc
}

// uniq numbers the tokens the comparison targets mint at login.
var uniq atomic.Int64

func startEtcd(ctx context.Context, procs *procSet, bin, root string) (*etcdCluster, error) {
	var peers, clients []string
	var cports, pports []int
	for i := 1; i <= 3; i++ {
		cp, err := proctest.Port()
		if err != nil {
			return nil, err
		}
		pp, err := proctest.Port()
		if err != nil {
			return nil, err
		}
		cports, pports = append(cports, cp), append(pports, pp)
		peers = append(peers, fmt.Sprintf("e%d=http://127.0.0.1:%d", i, pp))
		clients = append(clients, fmt.Sprintf("127.0.0.1:%d", cp))
	}
	e := &etcdCluster{}
	for i := 1; i <= 3; i++ {
		c, pu := fmt.Sprintf("http://127.0.0.1:%d", cports[i-1]), fmt.Sprintf("http://127.0.0.1:%d", pports[i-1])
		p, err := procs.start("etcd-e"+strconv.Itoa(i), nil, bin,
			"--name", "e"+strconv.Itoa(i), "--data-dir", filepath.Join(root, "etcd"+strconv.Itoa(i)),
			"--listen-client-urls", c, "--advertise-client-urls", c,
			"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
			"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-token", "sessiond-bench",
			"--initial-cluster-state", "new", "--logger", "zap", "--log-level", "warn")
		if err != nil {
			return nil, err
		}
		e.procs = append(e.procs, p)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: clients, DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	e.c = c
	err = waitFor(ctx, 60*time.Second, "etcd", e.procs[0], func() bool {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := c.Put(cctx, "/bench/ready", "1")
		return err == nil
	})
	return e, err
}

func (e *etcdCluster) name() string {
	if e.serializable {
		return "etcd-serializable"
	}
	return "etcd"
}

func (e *etcdCluster) validate(ctx context.Context, _ int, tok string) error {
	var opts []clientv3.OpOption
	if e.serializable {
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := e.c.Get(ctx, "/sess/"+tok, opts...)
	if err == nil && len(resp.Kvs) == 0 {
		err = fmt.Errorf("etcd: no session")
	}
	return err
}

func (e *etcdCluster) login(ctx context.Context, _ int, login, _ string) (string, error) {
	tok := tokenFor('e', int(uniq.Add(1)))
	lease, err := e.c.Grant(ctx, 3600)
	if err != nil {
		return "", err
	}
	_, err = e.c.Txn(ctx).Then(
		clientv3.OpPut("/sess/"+tok, login, clientv3.WithLease(lease.ID)),
		clientv3.OpPut("/user/"+login+"/"+tok, "", clientv3.WithLease(lease.ID)),
	).Commit()
	return tok, err
}

func (e *etcdCluster) logout(ctx context.Context, _ int, tok string) error {
	resp, err := e.c.Delete(ctx, "/sess/"+tok, clientv3.WithPrevKV())
	if err != nil {
		return err
	}
	if len(resp.PrevKvs) == 0 {
		return fmt.Errorf("etcd: no session")
	}
	_, err = e.c.Delete(ctx, "/user/"+string(resp.PrevKvs[0].Value)+"/"+tok)
	return err
}

func (e *etcdCluster) logoutAll(ctx context.Context, _ int, tok string) error {
	resp, err := e.c.Get(ctx, "/sess/"+tok)
	if err != nil || len(resp.Kvs) == 0 {
		return fmt.Errorf("etcd: no session (%v)", err)
	}
	u := string(resp.Kvs[0].Value)
	dr, err := e.c.Delete(ctx, "/user/"+u+"/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		return err
	}
	ops := []clientv3.Op{}
	for _, kv := range dr.PrevKvs {
		ops = append(ops, clientv3.OpDelete("/sess/"+strings.TrimPrefix(string(kv.Key), "/user/"+u+"/")))
	}
	_, err = e.c.Txn(ctx).Then(ops...).Commit()
	return err
}

// prefill stores the plan's sessions in transactions of 64 puts, without
// leases: loading 100k leased sessions through logins took 160 s in
// perf-anchors, and lease-free keys make etcd's reads faster, not slower,
// so the ratios against it are conservative.
func (e *etcdCluster) prefill(ctx context.Context, p plan) error {
	put := func(kind byte, n int, user func(i int) string) error {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		next := make(chan int)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					var ops []clientv3.Op
					for j := i; j < min(n, i+32); j++ {
						tok, u := tokenFor(kind, j), user(j)
						ops = append(ops, clientv3.OpPut("/sess/"+tok, u), clientv3.OpPut("/user/"+u+"/"+tok, ""))
					}
					if _, err := e.c.Txn(ctx).Then(ops...).Commit(); err != nil {
						select {
						case errs <- err:
						default:
						}
						return
					}
				}
			}()
		}
		for i := 0; i < n; i += 32 {
			select {
			case next <- i:
			case err := <-errs:
				close(next)
				wg.Wait()
				return err
			}
		}
		close(next)
		wg.Wait()
		select {
		case err := <-errs:
			return err
		default:
			return nil
		}
	}
	minUser := func(i int) string { return userLogin(kindMinUser, i%p.MinUsers) }
	if err := put(kindValidate, p.Sessions, minUser); err != nil {
		return err
	}
	if err := put(kindLogout, p.LogoutPool, minUser); err != nil {
		return err
	}
	return put(kindLogoutAll, p.LogoutAllPool, func(i int) string { return userLogin(kindAllUser, i) })
}

func (e *etcdCluster) cpuSeconds() float64 {
	var s float64
	for _, p := range e.procs {
		s += p.cpuSeconds()
	}
	return s
}
