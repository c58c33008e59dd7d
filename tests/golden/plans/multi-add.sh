#!/usr/bin/env bash
# add node3 to chain test-chain (create_k8s_config.py add_node)
set -euo pipefail  # stop at the first step that fails; every step is safe to run again from the top
cd "$(dirname "$0")"  # the paths below are relative to the work dir, where this file is
# 1. node3's folder onto its claim's storage (skipped once node3 exists)
# plain sync: node3 syncs the chain from block 1 (about 1.8 blocks a second) before it votes, and on v5.0.0 never gets past a block carrying a transaction its controller refused (the plan's wait then times out without the vote); add it with --seed_from I instead
kubectl --context black apply -f cluster3-pvc.yaml  # the claim cluster3-pvc
kubectl --context black get statefulset/test-chain-3 >/dev/null 2>&1 || minikube ssh -- mkdir -p /srv/cluster3/cita-cloud/test-chain
kubectl --context black get statefulset/test-chain-3 >/dev/null 2>&1 || scp -i $(minikube ssh-key) -r cita-cloud/test-chain/node3 docker@$(minikube ip):/srv/cluster3/cita-cloud/test-chain/
# 2. the running nodes' syncthing learns node3's device (at once)
kubectl --context red exec test-chain-0-0 -c syncthing -- sh -c 'syncthing cli --home /var/syncthing/config config devices add-json "$0" && for folder in blocks proposals txs; do syncthing cli --home /var/syncthing/config config folders "$folder" devices add-json "$1" || exit 1; done' '{"deviceID":"{premade device}","name":"192.0.2.13","addresses":["tcp://192.0.2.13:30001"]}' '{"deviceID":"{premade device}"}'
kubectl --context green exec test-chain-1-0 -c syncthing -- sh -c 'syncthing cli --home /var/syncthing/config config devices add-json "$0" && for folder in blocks proposals txs; do syncthing cli --home /var/syncthing/config config folders "$folder" devices add-json "$1" || exit 1; done' '{"deviceID":"{premade device}","name":"192.0.2.13","addresses":["tcp://192.0.2.13:30001"]}' '{"deviceID":"{premade device}"}'
kubectl --context blue exec test-chain-2-0 -c syncthing -- sh -c 'syncthing cli --home /var/syncthing/config config devices add-json "$0" && for folder in blocks proposals txs; do syncthing cli --home /var/syncthing/config config folders "$folder" devices add-json "$1" || exit 1; done' '{"deviceID":"{premade device}","name":"192.0.2.13","addresses":["tcp://192.0.2.13:30001"]}' '{"deviceID":"{premade device}"}'
# 3. start node3 (its Service, Secret and StatefulSet; nothing else changes) and wait for it
kubectl --context black apply -f test-chain-3.yaml
kubectl --context black rollout status statefulset/test-chain-3 --timeout=600s  # its pod runs and is ready
# 4. the running nodes' new peer lists, read at their next start (node3's name resolves now)
kubectl --context red cp cita-cloud/test-chain/node0/network-config.toml test-chain-0-0:/data/network-config.toml -c controller
kubectl --context red cp cita-cloud/test-chain/node0/config/config.xml test-chain-0-0:/data/config/config.xml -c controller
kubectl --context green cp cita-cloud/test-chain/node1/network-config.toml test-chain-1-0:/data/network-config.toml -c controller
kubectl --context green cp cita-cloud/test-chain/node1/config/config.xml test-chain-1-0:/data/config/config.xml -c controller
kubectl --context blue cp cita-cloud/test-chain/node2/network-config.toml test-chain-2-0:/data/network-config.toml -c controller
kubectl --context blue cp cita-cloud/test-chain/node2/config/config.xml test-chain-2-0:/data/config/config.xml -c controller
# 5. wait until node3 has caught up, then make it a validator
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,192.0.2.11:30002,192.0.2.12:30002 --chain_name test-chain --wait_synced --interval 1 --in_step 15 --timeout 900  # every old node keeps up block by block: node3 does not yet when the vote makes it a voter
{repo}/manage_chain.py status --rpc 192.0.2.10:30002,192.0.2.11:30002,192.0.2.12:30002,192.0.2.13:30002 --chain_name test-chain --wait_synced --timeout 900
{repo}/manage_chain.py add_validator {premade address} --rpc 192.0.2.10:30002,192.0.2.11:30002,192.0.2.12:30002,192.0.2.13:30002 --chain_name test-chain --node_rpc 192.0.2.13:30002 --admin_dir {work}/0x76d1ed8d0c3f52def2e867ef226b80710cdf9f2e --admin_password_file {work}/0x76d1ed8d0c3f52def2e867ef226b80710cdf9f2e/key_file --if_needed
# 6. a new v5.0.0 validator replays raft's log before it votes: take no node down before this returns
kubectl --context black exec test-chain-3-0 -c controller -- timeout 900 sh -c 'until [ "$(grep -o "commit_block height [0-9]*" logs/controller-service.log | tail -n 1 | cut -d " " -f 3)" -ge "$(ls blocks | sort -n | tail -n 1)" ] 2>/dev/null; do sleep 2; done'
