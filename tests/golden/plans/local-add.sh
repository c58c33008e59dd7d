#!/usr/bin/env bash
# add node3 to chain test-chain (create_k8s_config.py add_node)
set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top
cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT  # the port-forwards end with the script
# 1. node3's folder onto its claim's storage (skipped once node3 exists)
# plain sync: node3 syncs the chain from block 1 (about 1.8 blocks a second) before it votes, and on v5.0.0 never gets past a block carrying a transaction its controller refused (the plan's wait then times out without the vote); add it with --seed_from I instead
kubectl get statefulset/test-chain-3 >/dev/null 2>&1 || minikube ssh -- mkdir -p /home/docker/cita-cloud-datadir/cita-cloud/test-chain
kubectl get statefulset/test-chain-3 >/dev/null 2>&1 || scp -i $(minikube ssh-key) -r cita-cloud/test-chain/node3 docker@$(minikube ip):/home/docker/cita-cloud-datadir/cita-cloud/test-chain/
# 2. the running nodes' syncthing learns node3's device (at once)
kubectl exec test-chain-0-0 -c syncthing -- sh -c 'syncthing cli --home /var/syncthing/config config devices add-json "$0" && for folder in blocks proposals txs; do syncthing cli --home /var/syncthing/config config folders "$folder" devices add-json "$1" || exit 1; done' '{"deviceID":"LAI7Q7X-F22G56Q-F4NX4HB-KIOS3BZ-KN32IYJ-JZR2LTZ-PTXNGCF-JKXOHAD","name":"test-chain-3","addresses":["tcp://test-chain-3:22000"]}' '{"deviceID":"LAI7Q7X-F22G56Q-F4NX4HB-KIOS3BZ-KN32IYJ-JZR2LTZ-PTXNGCF-JKXOHAD"}'
kubectl exec test-chain-1-0 -c syncthing -- sh -c 'syncthing cli --home /var/syncthing/config config devices add-json "$0" && for folder in blocks proposals txs; do syncthing cli --home /var/syncthing/config config folders "$folder" devices add-json "$1" || exit 1; done' '{"deviceID":"LAI7Q7X-F22G56Q-F4NX4HB-KIOS3BZ-KN32IYJ-JZR2LTZ-PTXNGCF-JKXOHAD","name":"test-chain-3","addresses":["tcp://test-chain-3:22000"]}' '{"deviceID":"LAI7Q7X-F22G56Q-F4NX4HB-KIOS3BZ-KN32IYJ-JZR2LTZ-PTXNGCF-JKXOHAD"}'
kubectl exec test-chain-2-0 -c syncthing -- sh -c 'syncthing cli --home /var/syncthing/config config devices add-json "$0" && for folder in blocks proposals txs; do syncthing cli --home /var/syncthing/config config folders "$folder" devices add-json "$1" || exit 1; done' '{"deviceID":"LAI7Q7X-F22G56Q-F4NX4HB-KIOS3BZ-KN32IYJ-JZR2LTZ-PTXNGCF-JKXOHAD","name":"test-chain-3","addresses":["tcp://test-chain-3:22000"]}' '{"deviceID":"LAI7Q7X-F22G56Q-F4NX4HB-KIOS3BZ-KN32IYJ-JZR2LTZ-PTXNGCF-JKXOHAD"}'
# 3. start node3 (its Service, Secret and StatefulSet; nothing else changes) and wait for it
kubectl apply -f test-chain.yaml
kubectl rollout status statefulset/test-chain-3 --timeout=600s  # its pod runs and is ready
# 4. the running nodes' new peer lists, read at their next start (node3's name resolves now)
kubectl cp cita-cloud/test-chain/node0/network-config.toml test-chain-0-0:/data/network-config.toml -c controller
kubectl cp cita-cloud/test-chain/node0/config/config.xml test-chain-0-0:/data/config/config.xml -c controller
kubectl cp cita-cloud/test-chain/node1/network-config.toml test-chain-1-0:/data/network-config.toml -c controller
kubectl cp cita-cloud/test-chain/node1/config/config.xml test-chain-1-0:/data/config/config.xml -c controller
kubectl cp cita-cloud/test-chain/node2/network-config.toml test-chain-2-0:/data/network-config.toml -c controller
kubectl cp cita-cloud/test-chain/node2/config/config.xml test-chain-2-0:/data/config/config.xml -c controller
# 5. wait until node3 has caught up, then make it a validator
kubectl port-forward pod/test-chain-0-0 28100:50004 >/dev/null &
kubectl port-forward pod/test-chain-1-0 28101:50004 >/dev/null &
kubectl port-forward pod/test-chain-2-0 28102:50004 >/dev/null &
kubectl port-forward pod/test-chain-3-0 28103:50004 >/dev/null &
sleep 2 && test "$(jobs -rp | wc -l)" -eq 4  # every port-forward still runs (one whose local port is taken ends)
{repo}/manage_chain.py status --rpc 127.0.0.1:28100,127.0.0.1:28101,127.0.0.1:28102 --chain_name test-chain --wait_synced --interval 1 --in_step 15 --timeout 900  # every old node keeps up block by block: node3 does not yet when the vote makes it a voter
{repo}/manage_chain.py status --rpc 127.0.0.1:28100,127.0.0.1:28101,127.0.0.1:28102,127.0.0.1:28103 --chain_name test-chain --wait_synced --timeout 900
{repo}/manage_chain.py add_validator 0x131beff33df6ed14c9207cd0c5e814ff3ee908a6 --rpc 127.0.0.1:28100,127.0.0.1:28101,127.0.0.1:28102,127.0.0.1:28103 --chain_name test-chain --node_rpc 127.0.0.1:28103 --admin_dir test-chain-admin --admin_password_file <(kubectl get secret test-chain-kms-secret -o jsonpath='{.data.key_file}' | base64 -d) --if_needed
# 6. a new v5.0.0 validator replays raft's log before it votes: take no node down before this returns
kubectl exec test-chain-3-0 -c controller -- timeout 900 sh -c 'until [ "$(grep -o "commit_block height [0-9]*" logs/controller-service.log | tail -n 1 | cut -d " " -f 3)" -ge "$(ls blocks | sort -n | tail -n 1)" ] 2>/dev/null; do sleep 2; done'
