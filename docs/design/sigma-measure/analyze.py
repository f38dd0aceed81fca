# Measures the realdata Sigma rules (docs/design/sigma-frontend.md, section 0).
# Usage: python3 analyze.py [--dump DIR]   (FLUXCAP_REALDATA overrides ../shared/realdata)
# --dump writes regexes.txt, cmd_lits.txt (CommandLine literal fragments, lower case) and
# hay.txt (the 410 Sysmon CommandLine values) for the C++ probes in this folder.
import yaml, os, re, json, collections, sys
R=os.environ.get('FLUXCAP_REALDATA', os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../../shared/realdata'))
def rules():
    out=[]
    for base in [R+'/sigma',R+'/sigma-regression-extra']:
        for d,_,fs in os.walk(base):
            if 'regression_data' in d: continue
            for f in fs:
                if f.endswith('.yml'):
                    p=os.path.join(d,f)
                    docs=list(yaml.safe_load_all(open(p)))
                    for doc in docs:
                        if doc and 'detection' in doc: out.append((p,doc,base))
    return out
rs=rules()
print('rules',len(rs), collections.Counter(b.split('/')[-1] for _,_,b in rs))
mods=collections.Counter(); modchains=collections.Counter(); fields=collections.Counter()
conds=collections.Counter(); logsrc=collections.Counter(); kw=0; nulls=0; nums=0; emptys=0
wild=collections.Counter(); perfield=collections.Counter(); perfield_mod=collections.Counter()
regexes=[]; mixed=[]; parentonly_ids=0; multicond=0; listofmaps=0
ctx_re=re.compile(r'^(Parent|GrandParent|Grandparent|Ancestor)')
fieldsets=collections.Counter()
def walk_values(v):
    if isinstance(v,list):
        for x in v: yield x
    else: yield v
for p,doc,base in rs:
    ls=doc.get('logsource',{}); logsrc[(ls.get('category'),ls.get('product'),ls.get('service'))]+=1
    det=doc['detection']; c=det.get('condition')
    cl = c if isinstance(c,list) else [c]
    if isinstance(c,list): multicond+=1
    for cc in cl:
        s=str(cc)
        if re.search(r'\b1 of\b',s): conds['1 of']+=1
        if re.search(r'\ball of\b',s): conds['all of']+=1
        if re.search(r'\bany of\b',s): conds['any of']+=1
        if re.search(r'\bthem\b',s): conds['them']+=1
        if re.search(r'\bnot\b',s): conds['not']+=1
        if '(' in s: conds['parens']+=1
        if '|' in s: conds['pipe']+=1
        if re.search(r'\bor\b',s): conds['or']+=1
        if re.search(r'\band\b',s): conds['and']+=1
        if '*' in s: conds['wildcard-ident']+=1
    for ident,body in det.items():
        if ident in ('condition','timeframe'): continue
        if isinstance(body,list) and body and not isinstance(body[0],dict):
            kw+=1; continue
        maps = body if isinstance(body,list) else [body]
        if isinstance(body,list): listofmaps+=1
        for m in maps:
            if not isinstance(m,dict):
                kw+=1; continue
            ctxs=set()
            for k,v in m.items():
                parts=k.split('|'); f=parts[0]; ms=parts[1:]
                fields[f]+=1
                mo=ctx_re.match(f); ctxs.add(mo.group(1) if mo else 'child')
                for x in ms: mods[x]+=1
                modchains['|'.join(ms) or '(none)']+=1
                vals=list(walk_values(v))
                for x in vals:
                    if x is None: nulls+=1; continue
                    if isinstance(x,(int,float)) and not isinstance(x,bool): nums+=1; continue
                    if x=='': emptys+=1
                    s=str(x)
                    if 're' in ms: regexes.append((p,f,ms,s)); continue
                    if 'cidr' in ms or 'exists' in ms or 'fieldref' in ms: continue
                    pref = 'contains' if 'contains' in ms else 'startswith' if 'startswith' in ms else 'endswith' if 'endswith' in ms else 'eq'
                    perfield[(f,pref)]+=1; perfield_mod['|'.join(ms)]+=0
                    body_=s
                    if body_.startswith('*') : wild['leading*']+=1
                    if body_.endswith('*') and not body_.endswith('\\*'): wild['trailing*']+=1
                    inner=body_.strip('*')
                    if '*' in inner: wild['inner*']+=1
                    if '?' in s: wild['?']+=1
                    if '\\*' in s or '\\?' in s: wild['escaped * or ?']+=1
                    if '\\\\' in s: wild['double-backslash']+=1
            if len(ctxs)>1: mixed.append((p,ident,sorted(ctxs)))
print('modifiers',mods.most_common())
print('modchains',modchains.most_common())
print('fields',fields.most_common())
print('conds',conds, 'multi-condition lists',multicond)
print('logsource',logsrc.most_common())
print('keyword idents',kw,'null values',nulls,'numbers',nums,'empty strings',emptys,'list-of-maps idents',listofmaps)
print('wildcards',wild)
tot=collections.Counter()
for (f,k),n in perfield.items(): tot[f]+=n
print('literal patterns per field',tot.most_common(15))
print('per field/kind', sorted(perfield.items(), key=lambda x:-x[1])[:20])
print('regex count',len(regexes))
for p,f,ms,s in sorted(regexes,key=lambda x:-len(x[3]))[:5]: print('  ',len(s),f,ms,s[:150])
print('regex flags',collections.Counter('|'.join(m for m in ms if m!='re') for _,_,ms,_ in regexes))
print('mixed selections',len(mixed))
for x in mixed: print('  ',x[0].split('/')[-1],x[1],x[2])
# per-rule stats
per_rule=collections.Counter(); q=[]; esc=[]; allsingle=0; maxvals=0; maxmaps=0; idents=[]
for p,doc,base in rs:
    used=set(); det=doc['detection']; idents.append(len([k for k in det if k!='condition']))
    for ident,body in det.items():
        if ident=='condition': continue
        maps = body if isinstance(body,list) else [body]
        maxmaps=max(maxmaps,len(maps))
        for m in maps:
            if not isinstance(m,dict): continue
            for k,v in m.items():
                ms=k.split('|')[1:]; used.update(ms)
                vals=v if isinstance(v,list) else [v]; maxvals=max(maxvals,len(vals))
                if 'all' in ms and len(vals)==1: allsingle+=1
                for x in vals:
                    if isinstance(x,str) and 're' not in ms:
                        if re.search(r'(?<!\\)\?',x): q.append(x)
                        if '\\*' in x or '\\?' in x: esc.append(x)
    for u in used: per_rule[u]+=1
print('rules using each modifier',per_rule.most_common())
print('all with single value',allsingle,'max values per item',maxvals,'max maps per identifier',maxmaps,'identifiers per rule max/avg',max(idents),sum(idents)/len(idents))
print('? values',len(q),q[:8]); print('escaped',esc)

if '--dump' in sys.argv:
    out=sys.argv[sys.argv.index('--dump')+1]; os.makedirs(out,exist_ok=True)
    with open(os.path.join(out,'regexes.txt'),'w') as f:
        for _,_,_,x in regexes: f.write(x.replace('\n','\\n')+'\n')
    lits=set()
    for p,doc,base in rs:
        for ident,body in doc['detection'].items():
            if ident=='condition': continue
            for m in (body if isinstance(body,list) else [body]):
                if not isinstance(m,dict): continue
                for k,v in m.items():
                    fld,*ms=k.split('|')
                    if fld!='CommandLine' or set(ms)&{'re','base64','base64offset','windash','fieldref'}: continue
                    for x in (v if isinstance(v,list) else [v]):
                        if x is None: continue
                        for frag in re.split(r'(?<!\\)[*?]', str(x)):
                            frag=frag.replace('\\\\','\\')
                            if frag: lits.add(frag.lower())
    with open(os.path.join(out,'cmd_lits.txt'),'w') as f:
        for x in sorted(lits): f.write(x+'\n')
    with open(os.path.join(out,'hay.txt'),'w') as f:
        for fn in sorted(os.listdir(R+'/sysmon')):
            if fn.endswith('.jsonl'):
                for l in open(R+'/sysmon/'+fn, encoding='utf-8'):
                    f.write(json.loads(l)['CommandLine'].replace('\n',' ').replace('\r',' ')+'\n')
