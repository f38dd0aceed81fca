# Shape and fields of the regression events and of the Sysmon JSON Lines (design 1.6).
import json, os, collections, re
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))
def objs(path):
    txt=open(path,encoding='utf-8-sig').read()
    dec=json.JSONDecoder(); i=0; out=[]
    while True:
        while i<len(txt) and txt[i] in ' \r\n\t': i+=1
        if i>=len(txt): break
        o,j=dec.raw_decode(txt,i); out.append(o); i=j
    return out
shape=collections.Counter(); nobj=collections.Counter(); evfields=collections.Counter(); eids=collections.Counter(); prov=collections.Counter(); types=collections.Counter()
sysfields=collections.Counter()
files=0
for base in ['sigma/regression_data','sigma-regression-extra/regression_data']:
    for d,_,fs in os.walk(os.path.join(R,base)):
        for f in fs:
            if f.endswith('.json'):
                files+=1
                os_=objs(os.path.join(d,f)); nobj[len(os_)]+=1
                for o in os_:
                    shape[tuple(sorted(o.keys()))]+=1
                    ev=o.get('Event',{})
                    shape['Event:'+','.join(sorted(ev.keys()))]+=1
                    sy=ev.get('System',{}); eids[sy.get('EventID')]+=1
                    prov[sy.get('Provider',{}).get('#attributes',{}).get('Name')]+=1
                    for k in sy: sysfields[k]+=1
                    for k,v in (ev.get('EventData') or {}).items():
                        evfields[k]+=1; types[(k,type(v).__name__)]+=1
print('json files',files,'objects per file',sorted(nobj.items()))
print('shapes',shape.most_common(6))
print('EventIDs',eids,'providers',prov)
print('System keys',sysfields.most_common())
print('EventData fields',evfields.most_common())
print('non-str types',[(k,n) for k,n in types.items() if k[1]!='str'])
# sysmon files
print('--- sysmon jsonl')
for f in sorted(os.listdir(R+'/sysmon')):
    if not f.endswith('.jsonl'): continue
    lines=open(R+'/sysmon/'+f,encoding='utf-8').read().splitlines()
    ks=collections.Counter(); lens=[]
    for l in lines:
        o=json.loads(l); ks.update(o.keys()); lens.append(len(l))
    print(f,len(lines),'avg len',sum(lens)//len(lines),'max',max(lens),'keys',len(ks))
print(sorted(ks.items()))
