# Prints the process tree of one realdata Sysmon file: python3 trees.py FILE.jsonl
import json, sys, os
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))+'/sysmon/'
f=sys.argv[1]
ev=[]
for n,l in enumerate(open(R+f,encoding='utf-8'),1):
    o=json.loads(l); o['_line']=n; ev.append(o)
by={}
for o in ev: by[o['ProcessGuid'].upper()]=o
def short(s,n=90): s=(s or '').replace('\n',' '); return s if len(s)<=n else s[:n]+'…'
for o in ev:
    chain=[]; g=o['ParentProcessGuid'].upper(); d=0
    while g in by and d<10: chain.append(by[g]['_line']); g=by[g]['ParentProcessGuid'].upper(); d+=1
    print(f"L{o['_line']:<3} {o['Hostname'][:14]:14} {o['ProcessGuid']} par={o['ParentProcessGuid']} logged-anc={chain} img={o['Image'].split(chr(92))[-1]} cmd={short(o.get('CommandLine'))} || pimg={o['ParentImage'].split(chr(92))[-1]}")
